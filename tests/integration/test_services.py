"""Service scenarios, run on the embedded backends and on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from venta_core.app import Venta
from venta_core.domain import (
    Actor,
    BoundingBox,
    Location,
    SubscriptionStatus,
    SubscriptionUpdate,
    VendorCreate,
    VendorUpdate,
)
from venta_core.domain.cells import encode
from venta_core.errors import (
    Forbidden,
    LocationNotFound,
    UserNotFound,
    ValidationFailed,
    VendorNotFound,
)
from venta_core.ports.bus import BusMessage
from venta_core.store.tables import outbox, vendors
from venta_core.store.vendors import select_live_positions

BERLIN = Location(lat=52.52, long=13.405)


def same_place(a: Location, b: Location) -> bool:
    """Redis GEO keeps 52-bit geohashes: positions round-trip to well under a metre."""
    return a.lat == pytest.approx(b.lat, abs=1e-5) and a.long == pytest.approx(b.long, abs=1e-5)


BOX = BoundingBox(sw=Location(lat=52.50, long=13.38), ne=Location(lat=52.54, long=13.43))


async def _owner(app: Venta, name: str = "alice") -> Actor:
    return Actor.for_user(await app.users.ensure_user(name))


async def test_ensure_user_is_idempotent_and_race_safe(app: Venta) -> None:
    users = await asyncio.gather(*(app.users.ensure_user("same-subject") for _ in range(8)))
    assert len({u.id for u in users}) == 1
    assert users[0].subscription.status is SubscriptionStatus.INACTIVE
    assert (await app.users.get_user(users[0].id)).external_id == "same-subject"


async def test_vendor_lifecycle_with_location(app: Venta) -> None:
    alice = await _owner(app)
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Taco Truck"))
    assert vendor.owner_id == alice.user_id
    assert [v.id for v in await app.users.list_user_vendors(alice.user_id or "")] == [vendor.id]

    await app.locations.update_vendor_location(alice, vendor.id, BERLIN)
    found = await app.locations.vendors_in_box(BOX, limit=10)
    assert [p.id for p in found] == [vendor.id]
    assert same_place(found[0].location, BERLIN)
    near = await app.locations.vendors_near(BERLIN, 100, limit=10)
    assert near[0].id == vendor.id and near[0].distance is not None and near[0].distance < 1

    moved = Location(lat=48.8566, long=2.3522)
    await app.locations.update_vendor_location(alice, vendor.id, moved)
    assert await app.locations.vendors_in_box(BOX, limit=10) == []
    assert same_place((await app.locations.get_vendor_location(vendor.id)).location, moved)

    updated = await app.vendors.update_vendor(
        alice, vendor.id, VendorUpdate.model_validate({"description": "Best tacos", "open": True})
    )
    assert updated.description == "Best tacos" and updated.open and updated.name == "Taco Truck"
    assert (await app.vendors.get_vendor(vendor.id)).description == "Best tacos"

    await app.vendors.delete_vendor(alice, vendor.id)
    with pytest.raises(VendorNotFound):
        await app.vendors.get_vendor(vendor.id)
    with pytest.raises(LocationNotFound):
        await app.locations.get_vendor_location(vendor.id)


async def test_only_the_owner_changes_a_vendor(app: Venta) -> None:
    alice, mallory = await _owner(app, "alice"), await _owner(app, "mallory")
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Crepes"))
    await app.locations.update_vendor_location(alice, vendor.id, BERLIN)

    with pytest.raises(Forbidden):
        await app.vendors.update_vendor(mallory, vendor.id, VendorUpdate(name="Mine now"))
    with pytest.raises(Forbidden):
        await app.vendors.delete_vendor(mallory, vendor.id)
    with pytest.raises(Forbidden):
        await app.locations.update_vendor_location(mallory, vendor.id, Location(lat=0, long=0))
    with pytest.raises(Forbidden):
        await app.locations.remove_vendor_location(mallory, vendor.id)

    unchanged = await app.vendors.get_vendor(vendor.id)
    assert unchanged.name == "Crepes"
    assert same_place((await app.locations.get_vendor_location(vendor.id)).location, BERLIN)


async def test_unknown_and_malformed_ids(app: Venta) -> None:
    alice = await _owner(app)
    for vendor_id in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(VendorNotFound):
            await app.vendors.get_vendor(vendor_id)
        with pytest.raises(VendorNotFound):
            await app.vendors.update_vendor(alice, vendor_id, VendorUpdate(name="x"))
        with pytest.raises(VendorNotFound):
            await app.locations.update_vendor_location(alice, vendor_id, BERLIN)
    with pytest.raises(UserNotFound):
        await app.users.get_user("00000000-0000-4000-8000-000000000000")


async def test_query_bounds_are_validated(app: Venta) -> None:
    max_limit = app.settings.location.max_limit
    with pytest.raises(ValidationFailed):
        await app.locations.vendors_in_box(BOX, limit=0)
    with pytest.raises(ValidationFailed):
        await app.locations.vendors_in_box(BOX, limit=max_limit + 1)
    with pytest.raises(ValidationFailed):
        await app.locations.vendors_near(BERLIN, 0, limit=10)
    with pytest.raises(ValidationFailed):
        await app.locations.vendors_near(BERLIN, app.settings.location.max_radius_m + 1, 10)


async def test_positions_are_written_behind_once_per_vendor(app: Venta) -> None:
    alice = await _owner(app)
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Coffee Cart"))
    for i in range(50):
        loc = Location(lat=52.5 + i / 1000, long=13.4)
        await app.locations.update_vendor_location(alice, vendor.id, loc)
    assert app.vendor_positions.pending == 1  # coalesced: one pending row, the newest
    assert await app.vendor_positions.flush() == 1
    async with app.database.connect() as conn:
        row = (await conn.execute(sa.select(vendors).where(vendors.c.id == vendor.id))).one()
    assert row.lat == pytest.approx(52.549) and row.long == pytest.approx(13.4)


async def test_live_positions_are_published_on_their_cell(app: Venta) -> None:
    alice = await _owner(app)
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Waffles"))
    received: list[BusMessage] = []
    got = asyncio.Event()

    async def on_message(message: BusMessage) -> None:
        received.append(message)
        got.set()

    prefix = app.settings.key_prefix
    sub = await app.bus.subscribe(f"{prefix}.live.*.{vendor.id}", on_message)
    try:
        await app.bus.flush()
        await app.locations.update_vendor_location(alice, vendor.id, BERLIN)
        await asyncio.wait_for(got.wait(), 5)
    finally:
        await sub.unsubscribe()
    cell = encode(BERLIN.lat, BERLIN.long, app.settings.geo.cell_precision)
    assert received[0].subject == f"{prefix}.live.{cell}.{vendor.id}"
    body = json.loads(received[0].data)
    assert body["vendorId"] == vendor.id and body["lat"] == BERLIN.lat
    assert body["long"] == BERLIN.long and body["at"].endswith("Z")


async def test_domain_events_go_through_the_outbox(app: Venta) -> None:
    prefix = app.settings.key_prefix
    received: list[dict[str, object]] = []
    done = asyncio.Event()

    async def on_event(message: BusMessage) -> None:
        received.append(json.loads(message.data))
        if len(received) >= 3:
            done.set()

    sub = await app.bus.subscribe(f"{prefix}.events.>", on_event)
    try:
        await app.bus.flush()
        alice = await _owner(app)
        vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Ramen Van"))
        await app.vendors.delete_vendor(alice, vendor.id)
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await sub.unsubscribe()
    types = [e["type"] for e in received]
    assert types == ["user.created", "vendor.created", "vendor.deleted"]
    assert set(received[1]) == {"id", "type", "occurredAt", "requestId", "data"}
    assert received[1]["data"]["id"] == vendor.id  # type: ignore[index]
    async with app.database.connect() as conn:
        unsent = await conn.execute(sa.select(outbox).where(outbox.c.sent_at.is_(None)))
        assert unsent.first() is None


async def test_deleting_a_user_removes_vendors_and_positions(app: Venta) -> None:
    alice = await _owner(app)
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Pretzels"))
    await app.locations.update_vendor_location(alice, vendor.id, BERLIN)
    await app.users.delete_user(alice.user_id or "")
    with pytest.raises(VendorNotFound):
        await app.vendors.get_vendor(vendor.id)
    assert await app.locations.vendors_in_box(BOX, 10) == []
    with pytest.raises(UserNotFound):
        await app.users.delete_user(alice.user_id or "")


async def test_subscription_updates_are_idempotent_by_event(app: Venta) -> None:
    user = await app.users.ensure_user("subscriber")
    update = SubscriptionUpdate(
        status=SubscriptionStatus.ACTIVE, provider="revenuecat", product_id="pro", event_id="e1"
    )
    first = await app.users.set_subscription(user.id, update)
    again = await app.users.set_subscription(user.id, update)
    assert first.status is again.status is SubscriptionStatus.ACTIVE
    assert (await app.users.get_user(user.id)).subscription.product_id == "pro"
    async with app.database.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(outbox.c.type == "subscription.updated")
        )
    assert count == 1


async def test_an_emptied_geo_index_is_refilled_with_the_live_vendors(app: Venta) -> None:
    alice = await _owner(app)
    stall = await app.vendors.create_vendor(alice, VendorCreate(name="Dumplings"))
    gone = await app.vendors.create_vendor(alice, VendorCreate(name="Gone Gyros"))
    await app.locations.update_vendor_location(alice, stall.id, BERLIN)
    await app.locations.update_vendor_location(alice, gone.id, BERLIN)
    await app.vendor_positions.flush()
    await app.locations.remove_vendor_location(alice, gone.id)  # went offline
    await app.vendor_positions.flush()
    await app.geo.clear()  # as a Redis that lost its data
    assert app.geo_refill is not None

    assert await app.geo_refill.refill() == 1

    assert same_place((await app.locations.get_vendor_location(stall.id)).location, BERLIN)
    with pytest.raises(LocationNotFound):
        await app.locations.get_vendor_location(gone.id)
    assert await app.geo_refill.refill() is None  # filled: nothing to do
    gone_row = await app.vendors.get_vendor(gone.id)
    assert (gone_row.lat, gone_row.long) == (BERLIN.lat, BERLIN.long)  # the last position stays


async def test_the_database_keeps_whichever_came_last_a_position_or_going_offline(
    app: Venta,
) -> None:
    alice = await _owner(app)
    back, away = [
        (await app.vendors.create_vendor(alice, VendorCreate(name=n))).id for n in ("Back", "Away")
    ]
    writer = app.vendor_positions
    now = datetime.now(UTC)
    writer.record(back, 1.0, 2.0, now)
    writer.record_offline(back)
    writer.record(back, 3.0, 4.0, now)  # live again before the flush: live
    writer.record(away, 5.0, 6.0, now)
    await writer.flush()
    writer.record_offline(away)  # offline after its position was written: not live, kept
    await writer.flush()

    async with app.database.connect() as conn:
        rows = await conn.execute(sa.select(vendors.c.id, vendors.c.lat, vendors.c.live))
        found = {r.id: (r.lat, bool(r.live)) for r in rows}
    assert found == {back: (3.0, True), away: (5.0, False)}
    async with app.database.connect() as conn:
        assert await select_live_positions(conn) == [(back, 3.0, 4.0)]


async def test_moves_across_cells_and_removals_are_announced(app: Venta) -> None:
    """Watchers of a cell hear when a vendor leaves it (its new position, published on the old
    cell) and when its position is removed (gone), whichever transport made the change."""
    alice = await _owner(app)
    vendor = await app.vendors.create_vendor(alice, VendorCreate(name="Bagels"))
    prefix, precision = app.settings.key_prefix, app.settings.geo.cell_precision
    paris = Location(lat=48.8566, long=2.3522)
    berlin_cell, paris_cell = (encode(p.lat, p.long, precision) for p in (BERLIN, paris))
    seen: list[tuple[str, dict[str, object]]] = []
    done = asyncio.Event()

    async def on_message(message: BusMessage) -> None:
        seen.append((message.subject, json.loads(message.data)))
        if message.subject.startswith(f"{prefix}.gone."):
            done.set()

    # One subscription for live and gone, so the messages keep their publish order.
    subs = [await app.bus.subscribe(f"{prefix}.*.*.{vendor.id}", on_message)]
    try:
        await app.bus.flush()
        await app.locations.update_vendor_location(alice, vendor.id, BERLIN)
        await app.locations.update_vendor_location(alice, vendor.id, paris)
        await app.locations.remove_vendor_location(alice, vendor.id)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        for sub in subs:
            await sub.unsubscribe()
    subjects = [subject for subject, _ in seen]
    assert subjects == [
        f"{prefix}.live.{berlin_cell}.{vendor.id}",
        f"{prefix}.live.{paris_cell}.{vendor.id}",
        f"{prefix}.live.{berlin_cell}.{vendor.id}",  # left the Berlin cell: the Paris position
        f"{prefix}.gone.{paris_cell}.{vendor.id}",
    ]
    assert seen[2][1]["lat"] == paris.lat
    assert seen[3][1]["vendorId"] == vendor.id
