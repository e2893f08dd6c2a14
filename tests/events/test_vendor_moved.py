"""``vendor.moved``: emitted from the write-behind flush of vendor positions, coalesced per
vendor, in the transaction of the position it carries; on the embedded backends and on
PostgreSQL + Redis + JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.events.helpers import EventRecorder, delete_streams, empty_tables, fast, wait_until
from venta_core.app import Venta
from venta_core.domain import Actor, Location, VendorCreate
from venta_core.domain.geo import haversine_raw
from venta_core.events import (
    EventEnvelope,
    MalformedEvent,
    VendorMovedData,
    decode_event,
)
from venta_core.ports.stream import ConsumerSpec
from venta_core.settings import Settings
from venta_core.store import outbox as outbox_rows
from venta_core.store.positions import MovedEvents, PositionWriteBehind
from venta_core.store.tables import outbox, users, vendors

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = (52.52, 13.405)
#: Degrees of latitude per metre, near enough for test moves.
DEG_PER_M = 1 / 111_195

StartApp = Callable[..., Awaitable[Venta]]


def north(metres: float) -> tuple[float, float]:
    """A point ``metres`` north of ``BERLIN``."""
    return BERLIN[0] + metres * DEG_PER_M, BERLIN[1]


@pytest.fixture
async def start_app(backend_settings: Settings) -> AsyncIterator[StartApp]:
    """``await start_app(plugins=[...], worker=False, **location_overrides)`` -> a started app.
    The background flush waits a minute, so each test decides when positions are flushed."""
    async with AsyncExitStack() as stack:

        async def start(plugins: Any = (), worker: bool = False, **location: Any) -> Venta:
            base = fast(backend_settings)
            values = {"flush_interval_seconds": 60.0, "flush_max_pending": 1_000_000, **location}
            settings = base.model_copy(update={"location": base.location.model_copy(update=values)})
            app = Venta(settings, plugins=plugins, load_entry_points=False)
            if not settings.is_sqlite:
                await app.database.start()
                await empty_tables(app)
            if worker:
                app.enable_worker()
            stack.push_async_callback(delete_streams, settings)
            await stack.enter_async_context(app)
            return app

        yield start


async def create_vendors(app: Venta, *names: str) -> list[str]:
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    return [(await app.vendors.create_vendor(owner, VendorCreate(name=n))).id for n in names]


async def moved_events(app: Venta) -> list[dict[str, Any]]:
    """The ``data`` of every ``vendor.moved`` in the outbox, oldest first."""
    async with app.database.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload)
            .where(outbox.c.type == "vendor.moved")
            .order_by(outbox.c.seq)
        )
        return [dict(row.payload["data"]) for row in rows]


async def stored_position(app: Venta, vendor_id: str) -> tuple[float | None, float | None]:
    async with app.database.connect() as conn:
        row = (
            await conn.execute(
                sa.select(vendors.c.lat, vendors.c.long).where(vendors.c.id == vendor_id)
            )
        ).one()
    return row.lat, row.long


async def move(app: Venta, vendor_id: str, at: datetime, metres_north: float = 0.0) -> None:
    """Record a position ``metres_north`` of Berlin at ``at`` and flush it."""
    lat, long = north(metres_north)
    app.vendor_positions.record(vendor_id, lat, long, at)
    await app.vendor_positions.flush()


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_payload_is_registered_with_its_time_in_utc() -> None:
    berlin_time = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    data = VendorMovedData(id="v1", lat=0.0, long=-0.5, at=berlin_time)

    wire = EventEnvelope.new("vendor.moved", data).model_dump_json(by_alias=True)

    envelope = decode_event(wire.encode())
    assert envelope.data == {"id": "v1", "lat": 0.0, "long": -0.5, "at": "2026-03-01T12:00:00Z"}
    assert envelope.payload() == data
    missing_at = wire.replace(',"at":"2026-03-01T12:00:00Z"', "")
    with pytest.raises(MalformedEvent, match="invalid data: at"):
        decode_event(missing_at.encode())


async def test_moves_within_the_interval_emit_one_event_per_interval(
    start_app: StartApp,
) -> None:
    app = await start_app(moved_event_interval_seconds=60, moved_event_min_meters=200)
    (vendor,) = await create_vendors(app, "Churro Champion")

    for second, metres in [(0, 0), (10, 20), (30, 40), (59, 60), (60, 80), (90, 100), (125, 120)]:
        await move(app, vendor, T0 + timedelta(seconds=second), metres)

    lat, long = north(80)
    assert await moved_events(app) == [
        {"id": vendor, "lat": BERLIN[0], "long": BERLIN[1], "at": rfc3339(T0)},
        {"id": vendor, "lat": lat, "long": long, "at": rfc3339(T0 + timedelta(seconds=60))},
        {
            "id": vendor,
            "lat": north(120)[0],
            "long": BERLIN[1],
            "at": rfc3339(T0 + timedelta(seconds=125)),
        },
    ]
    assert await stored_position(app, vendor) == north(120)  # every flush wrote its position
    assert app.vendor_positions.events == 3


async def test_a_move_farther_than_the_distance_emits_at_the_next_flush(
    start_app: StartApp,
) -> None:
    app = await start_app(moved_event_interval_seconds=60, moved_event_min_meters=200)
    (vendor,) = await create_vendors(app, "Taco Town")

    await move(app, vendor, T0)
    await move(app, vendor, T0 + timedelta(seconds=1), 150)  # 150 m from the last event
    await move(app, vendor, T0 + timedelta(seconds=2), 300)  # 150 m on, 300 m from the event
    await move(app, vendor, T0 + timedelta(seconds=3), 450)  # 150 m from that event

    events = await moved_events(app)
    assert [e["at"] for e in events] == [rfc3339(T0), rfc3339(T0 + timedelta(seconds=2))]
    assert haversine_raw(*BERLIN, events[1]["lat"], events[1]["long"]) == pytest.approx(300, 1)


async def test_a_vendor_standing_still_emits_once(start_app: StartApp) -> None:
    app = await start_app(moved_event_interval_seconds=60)
    (vendor,) = await create_vendors(app, "Pretzel Post")

    for minute in range(4):
        await move(app, vendor, T0 + timedelta(minutes=minute))

    assert len(await moved_events(app)) == 1


async def test_a_deleted_vendor_emits_nothing(start_app: StartApp) -> None:
    app = await start_app()
    kept, deleted = await create_vendors(app, "Kept", "Deleted")
    async with app.database.begin() as conn:
        await conn.execute(vendors.delete().where(vendors.c.id == deleted))

    # A position recorded just before the deletion, flushed after it: no row, no event.
    app.vendor_positions.record(deleted, *north(10), T0)
    app.vendor_positions.record(kept, *north(20), T0)
    assert await app.vendor_positions.flush() == 2

    assert [e["id"] for e in await moved_events(app)] == [kept]
    assert app.vendor_positions.events == 1


async def test_zero_interval_disables_the_event_and_users_never_emit(
    start_app: StartApp,
) -> None:
    app = await start_app(moved_event_interval_seconds=0)
    (vendor,) = await create_vendors(app, "Quiet Quiche")
    owner = (await app.users.ensure_user("owner")).id

    await move(app, vendor, T0, 500)
    await move(app, vendor, T0 + timedelta(hours=1), 5_000)
    app.user_positions.record(owner, *north(10), T0)
    await app.user_positions.flush()

    assert await moved_events(app) == []
    assert await stored_position(app, vendor) == north(5_000)
    async with app.database.connect() as conn:
        lat = await conn.scalar(sa.select(users.c.lat).where(users.c.id == owner))
    assert lat == north(10)[0]


async def test_a_restarted_process_emits_once_for_each_vendor_at_its_first_flush(
    start_app: StartApp,
) -> None:
    app = await start_app(moved_event_interval_seconds=60, moved_event_min_meters=200)
    (vendor,) = await create_vendors(app, "Waffle Wagon")
    await move(app, vendor, T0)
    restarted = PositionWriteBehind(
        app.database, vendors, interval=60, max_pending=100, moved=MovedEvents(60, 200)
    )

    restarted.record(vendor, *north(1), T0 + timedelta(seconds=1))
    await restarted.flush()
    restarted.record(vendor, *north(2), T0 + timedelta(seconds=2))
    await restarted.flush()

    assert [e["at"] for e in await moved_events(app)] == [
        rfc3339(T0),
        rfc3339(T0 + timedelta(seconds=1)),
    ]


async def test_a_vendor_back_online_emits_at_its_first_flush(start_app: StartApp) -> None:
    app = await start_app(moved_event_interval_seconds=60, moved_event_min_meters=200)
    (vendor,) = await create_vendors(app, "Bagel Bus")
    owner = Actor.for_user(await app.users.ensure_user("owner"))

    await app.locations.update_vendor_location(owner, vendor, Location(lat=52.52, long=13.405))
    await app.vendor_positions.flush()
    await app.locations.remove_vendor_location(owner, vendor)  # offline: no event
    await app.vendor_positions.flush()
    assert len(await moved_events(app)) == 1

    await app.locations.update_vendor_location(owner, vendor, Location(lat=52.52, long=13.406))
    await app.vendor_positions.flush()

    assert [e["long"] for e in await moved_events(app)] == [13.405, 13.406]


async def test_the_memory_of_emitted_positions_is_bounded(start_app: StartApp) -> None:
    app = await start_app()
    names = await create_vendors(app, "A", "B", "C")
    writer = PositionWriteBehind(
        app.database, vendors, interval=60, max_pending=100, moved=MovedEvents(60, remember=2)
    )

    for second in range(2):  # A, B, C at T0, then a small move each a second later
        for vendor in names:
            writer.record(vendor, *north(second), T0 + timedelta(seconds=second))
        await writer.flush()

    # Remembering two, A left the memory when C entered it: A emits again at its next flush
    # (more events, never fewer), while B and C, remembered, wait for the interval.
    assert [e["id"] for e in await moved_events(app)] == [*names, names[0]]
    assert writer.events == 4


async def test_processes_flushing_the_same_vendors_at_once_wait_for_each_other(
    start_app: StartApp,
) -> None:
    """Two processes holding positions of the same vendors (updates spread over gateways)
    flush them at once, in opposite orders of arrival: no deadlock (PostgreSQL would fail one
    flush after a second, and it would be retried)."""
    app = await start_app()
    fleet = await create_vendors(app, *(f"Cart {n}" for n in range(60)))
    writers = [
        PositionWriteBehind(app.database, vendors, interval=60, max_pending=10**6) for _ in "ab"
    ]

    for second in range(1, 6):
        at = T0 + timedelta(seconds=second)
        for vendor in fleet:
            writers[0].record(vendor, *north(second), at)
        for vendor in reversed(fleet):
            writers[1].record(vendor, *north(second), at)
        flushed = await asyncio.gather(*(w.flush() for w in writers))
        assert flushed == [60, 60]

    assert {await stored_position(app, v) for v in fleet} == {north(5)}


async def test_positions_and_their_events_commit_together(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await start_app()
    (vendor,) = await create_vendors(app, "Atomic Arepas")
    real_add_events = outbox_rows.add_events

    async def add_then_fail(conn: AsyncConnection, *args: Any, **kwargs: Any) -> Any:
        added = await real_add_events(conn, *args, **kwargs)
        await conn.execute(sa.text("SELECT * FROM no_such_table"))  # a real database error
        return added

    monkeypatch.setattr(outbox_rows, "add_events", add_then_fail)
    app.vendor_positions.record(vendor, *north(10), T0)
    with pytest.raises(sa.exc.DBAPIError):
        await app.vendor_positions.flush()

    assert await stored_position(app, vendor) == (None, None)  # the UPDATE was rolled back
    assert await moved_events(app) == []
    assert app.vendor_positions.pending == 1  # put back for the next flush

    monkeypatch.setattr(outbox_rows, "add_events", real_add_events)
    await app.vendor_positions.flush()

    assert await stored_position(app, vendor) == north(10)
    assert [e["at"] for e in await moved_events(app)] == [rfc3339(T0)]


async def test_vendor_moved_reaches_a_worker_handler_on_its_subject(start_app: StartApp) -> None:
    recorder = EventRecorder("moved-recorder", {"vendor.moved"})
    app = await start_app(plugins=[recorder], worker=True)
    (vendor,) = await create_vendors(app, "Live Lemonade")
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    prefix = app.settings.key_prefix
    spec = ConsumerSpec(durable="moved-check", filter_subject=f"{prefix}.events.vendor.moved")
    consumer = await app.stream.consumer(spec)

    before = datetime.now(UTC)
    position = await app.locations.update_vendor_location(
        owner, vendor, Location(lat=48.137, long=11.575)
    )
    await app.vendor_positions.flush()

    async def handled() -> bool:
        return len(recorder.handled) == 1

    await wait_until(handled)
    (envelope,) = recorder.handled
    payload = envelope.payload()
    assert isinstance(payload, VendorMovedData)
    assert (envelope.type, envelope.request_id) == ("vendor.moved", None)
    assert (payload.id, payload.lat, payload.long) == (vendor, 48.137, 11.575)
    assert payload.at == position.updated_at and payload.at >= before
    assert envelope.data["at"].endswith("Z")
    messages = await consumer.fetch(10, 2.0)
    await consumer.close()
    assert [m.subject for m in messages] == [f"{prefix}.events.vendor.moved"]
    assert EventEnvelope.model_validate_json(messages[0].data).id == envelope.id
    await asyncio.sleep(0.1)
    assert len(recorder.handled) == 1
