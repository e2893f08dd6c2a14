"""Webhook delivery claims on SQLite and PostgreSQL: completion, take-over of abandoned claims,
refusal of a redelivery being handled, purge (never of permanent markers), the worker's
housekeeping loop, and migration 0003 (``completed_at``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from tests.events.helpers import wait_until
from venta_core.errors import VentaError
from venta_core.ports.stream_memory import MemoryEventStream
from venta_core.relay import stream_specs
from venta_core.services.webhooks import CLAIM_LEASE, DeliveryInProgress, WebhookDeliveries
from venta_core.settings import Settings, WorkerSettings
from venta_core.store import migrate
from venta_core.store import webhooks as rows
from venta_core.store.engine import Database
from venta_core.store.tables import processed_webhooks
from venta_core.testing import database_settings, embedded_settings
from venta_core.transports.worker import EventWorker, Housekeeping, WorkerMetrics

pytestmark = pytest.mark.integration

MARKERS = "example.blocked"  # a provider name with a dot: permanent markers


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A migrated database: a SQLite file, then PostgreSQL."""
    return database_settings(request.param, tmp_path, request)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    await database.start()
    async with database.begin() as conn:
        await conn.execute(sa.delete(processed_webhooks))
    yield database
    await database.stop()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes (stored in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def row_of(db: Database, provider: str, delivery_id: str) -> dict[str, Any] | None:
    async with db.connect() as conn:
        found = (
            await conn.execute(
                sa.select(processed_webhooks.c.received_at, processed_webhooks.c.completed_at)
                .where(processed_webhooks.c.provider == provider)
                .where(processed_webhooks.c.delivery_id == delivery_id)
            )
        ).first()
    if found is None:
        return None
    return {"received_at": _utc(found.received_at), "completed_at": _utc(found.completed_at)}


async def put_claim(
    db: Database, provider: str, delivery_id: str, *, age: timedelta, completed: bool
) -> None:
    """A claim received ``age`` ago; not completed: its handler crashed (or still runs)."""
    async with db.begin() as conn:
        at = datetime.now(UTC) - age
        assert await rows.claim(conn, provider, delivery_id, at=at, completed=completed)


async def count_claims(db: Database) -> int:
    async with db.connect() as conn:
        query = sa.select(sa.func.count()).select_from(processed_webhooks)
        return int((await conn.execute(query)).scalar_one())


class Calls:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


async def test_once_completes_the_claim_and_skips_every_redelivery(db: Database) -> None:
    deliveries = WebhookDeliveries(db)
    handler = Calls()
    before = datetime.now(UTC)

    assert await deliveries.once("p", "d", handler) is True
    row = await row_of(db, "p", "d")
    assert row is not None
    assert row["completed_at"] is not None
    assert row["completed_at"] >= row["received_at"] >= before - timedelta(seconds=1)

    assert await deliveries.once("p", "d", handler) is False
    assert handler.count == 1


async def test_a_completed_claim_is_never_run_again_even_long_after(db: Database) -> None:
    await put_claim(db, "p", "old", age=timedelta(days=3), completed=True)
    handler = Calls()

    assert await WebhookDeliveries(db).once("p", "old", handler) is False
    assert handler.count == 0


async def test_an_abandoned_claim_is_taken_over_by_a_redelivery(db: Database) -> None:
    """A process killed mid-handler leaves a claim never completed: once the lease is over,
    the provider's retry runs the handler and completes the claim."""
    deliveries = WebhookDeliveries(db)
    async with db.begin() as conn:  # the crashed process: claimed, never completed
        assert await rows.claim(conn, "p", "d", completed=False)
    async with db.begin() as conn:  # ... and the lease has run out since
        await conn.execute(
            sa.update(processed_webhooks).values(
                received_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)
            )
        )
    handler = Calls()
    retried_at = datetime.now(UTC)

    assert await deliveries.once("p", "d", handler) is True

    assert handler.count == 1
    row = await row_of(db, "p", "d")
    assert row is not None
    assert row["completed_at"] is not None
    assert row["received_at"] >= retried_at - timedelta(seconds=1)  # the new claim's time
    assert await deliveries.once("p", "d", handler) is False
    assert handler.count == 1


async def test_a_claim_inside_the_lease_refuses_a_concurrent_redelivery(db: Database) -> None:
    deliveries = WebhookDeliveries(db)
    entered, finish = asyncio.Event(), asyncio.Event()
    second = Calls()

    async def slow() -> None:
        entered.set()
        await finish.wait()

    first = asyncio.create_task(deliveries.once("p", "d", slow))
    await asyncio.wait_for(entered.wait(), 10)

    with pytest.raises(DeliveryInProgress) as refused:
        await deliveries.once("p", "d", second)

    error: VentaError = refused.value
    assert (error.code, error.http_status) == ("CONFLICT", 409)
    assert error.details == {"provider": "p", "deliveryId": "d"}
    assert second.count == 0
    finish.set()
    assert await first is True
    assert await deliveries.once("p", "d", second) is False  # the retry: handled already
    assert second.count == 0


async def test_a_claim_of_another_process_inside_the_lease_is_refused(db: Database) -> None:
    await put_claim(db, "p", "d", age=CLAIM_LEASE - timedelta(seconds=30), completed=False)
    handler = Calls()

    with pytest.raises(DeliveryInProgress):
        await WebhookDeliveries(db).once("p", "d", handler)

    assert handler.count == 0
    row = await row_of(db, "p", "d")
    assert row is not None
    assert row["completed_at"] is None  # left to its owner


async def test_concurrent_redeliveries_of_an_abandoned_claim_take_it_over_once(
    db: Database,
) -> None:
    await put_claim(db, "p", "d", age=CLAIM_LEASE * 2, completed=False)
    deliveries = WebhookDeliveries(db)
    gate = asyncio.Event()
    runs = Calls()

    async def handler() -> None:
        await runs()
        await gate.wait()

    tasks = [asyncio.create_task(deliveries.once("p", "d", handler)) for _ in range(6)]
    await wait_until(lambda: _done(tasks, 5))  # the losers are refused while the winner runs
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert runs.count == 1
    assert sum(r is True for r in results) == 1
    assert sum(isinstance(r, DeliveryInProgress) for r in results) == 5
    row = await row_of(db, "p", "d")
    assert row is not None
    assert row["completed_at"] is not None


async def _done(tasks: list[asyncio.Task[bool]], count: int) -> bool:
    return sum(t.done() for t in tasks) >= count


async def test_take_over_is_one_conditional_update_exactly_one_wins(db: Database) -> None:
    await put_claim(db, "p", "d", age=CLAIM_LEASE * 2, completed=False)
    stale_before = datetime.now(UTC) - CLAIM_LEASE

    async def take() -> bool:
        async with db.begin() as conn:
            return await rows.take_over(conn, "p", "d", stale_before=stale_before)

    results = await asyncio.gather(*(take() for _ in range(8)))

    assert sorted(results) == [False] * 7 + [True]


async def test_a_handler_that_outlived_its_lease_does_not_release_the_new_claim(
    db: Database,
) -> None:
    """The first run is slow; a redelivery takes over and completes; the first run then
    fails: the completed claim stays, and later redeliveries are skipped."""
    deliveries = WebhookDeliveries(db)
    retry = Calls()

    async def slow_then_fails() -> None:
        async with db.begin() as conn:  # the lease runs out while this handler runs
            await conn.execute(
                sa.update(processed_webhooks).values(
                    received_at=datetime.now(UTC) - CLAIM_LEASE * 2
                )
            )
        assert await deliveries.once("p", "d", retry) is True
        raise RuntimeError("late failure")

    with pytest.raises(RuntimeError, match="late failure"):
        await deliveries.once("p", "d", slow_then_fails)

    row = await row_of(db, "p", "d")
    assert row is not None
    assert row["completed_at"] is not None
    assert await deliveries.once("p", "d", retry) is False
    assert retry.count == 1


async def test_release_of_an_old_claim_leaves_the_claim_that_replaced_it(db: Database) -> None:
    first_at = datetime.now(UTC) - CLAIM_LEASE * 2
    async with db.begin() as conn:
        assert await rows.claim(conn, "p", "d", at=first_at, completed=False)
        assert await rows.take_over(conn, "p", "d", stale_before=first_at + CLAIM_LEASE)
    async with db.begin() as conn:
        assert not await rows.release(conn, "p", "d", claimed_at=first_at)
    assert await rows_exist(db, "p", "d")


async def rows_exist(db: Database, provider: str, delivery_id: str) -> bool:
    async with db.connect() as conn:
        return await rows.is_claimed(conn, provider, delivery_id)


async def test_a_failed_handler_releases_its_claim_for_the_retry(db: Database) -> None:
    deliveries = WebhookDeliveries(db)

    async def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await deliveries.once("p", "d", boom)

    assert await row_of(db, "p", "d") is None
    assert await deliveries.once("p", "d", Calls()) is True


async def test_claim_records_a_completed_marker_that_is_never_taken_over(
    db: Database,
) -> None:
    """A permanent marker: ``claim`` records it completed, so it stays."""
    deliveries = WebhookDeliveries(db)

    assert await deliveries.claim(MARKERS, "user_1") is True
    assert await deliveries.claim(MARKERS, "user_1") is False
    async with db.begin() as conn:
        await conn.execute(
            sa.update(processed_webhooks).values(received_at=datetime.now(UTC) - timedelta(days=9))
        )
    handler = Calls()

    assert await deliveries.once(MARKERS, "user_1", handler) is False
    assert handler.count == 0
    assert await deliveries.seen(MARKERS, "user_1")
    row = await row_of(db, MARKERS, "user_1")
    assert row is not None
    assert row["completed_at"] is not None


async def test_purge_deletes_old_claims_and_never_markers_or_claims_being_handled(
    db: Database,
) -> None:
    old = timedelta(days=40)
    await put_claim(db, "p", "old", age=old, completed=True)
    await put_claim(db, "p", "recent", age=timedelta(days=1), completed=True)
    await put_claim(db, "p", "abandoned", age=old, completed=False)
    await put_claim(db, "p", "running", age=timedelta(seconds=5), completed=False)
    await put_claim(db, MARKERS, "user_old", age=timedelta(days=400), completed=True)
    deliveries = WebhookDeliveries(db)

    assert await deliveries.purge(timedelta(days=30)) == 2
    assert await row_of(db, "p", "old") is None
    assert await row_of(db, "p", "abandoned") is None
    assert await count_claims(db) == 3

    assert await deliveries.purge(timedelta(0)) == 1  # "recent"; "running" is being handled
    assert await row_of(db, "p", "running") is not None
    assert await deliveries.seen(MARKERS, "user_old")


async def test_housekeeping_purges_on_its_interval(db: Database) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    settings = WorkerSettings(webhook_retention_days=1, housekeeping_interval_seconds=0.05)
    housekeeping = Housekeeping(
        WebhookDeliveries(db), settings, purged=metrics.webhook_claims_purged
    )
    await put_claim(db, "p", "first", age=timedelta(days=2), completed=True)
    await put_claim(db, "p", "fresh", age=timedelta(hours=1), completed=True)
    await put_claim(db, MARKERS, "user_1", age=timedelta(days=2), completed=True)

    await housekeeping.start()
    try:
        await wait_until(lambda: _gone(db, "first"))
        passes = housekeeping.passes
        await put_claim(db, "p", "second", age=timedelta(days=2), completed=True)
        await wait_until(lambda: _gone(db, "second"))
        assert housekeeping.passes > passes  # removed by a later pass
        assert housekeeping.running
    finally:
        await housekeeping.stop()

    assert not housekeeping.running
    assert await row_of(db, "p", "fresh") is not None
    assert await row_of(db, MARKERS, "user_1") is not None
    assert registry.get_sample_value("venta_webhook_claims_purged_total") == 2
    assert housekeeping.failed_passes == 0


async def _gone(db: Database, delivery_id: str) -> bool:
    return await row_of(db, "p", delivery_id) is None


async def test_housekeeping_logs_a_failed_pass_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without the table (never migrated): every pass fails, the loop stays."""
    database = Database(embedded_settings(tmp_path / "empty.db"))
    await database.start()
    housekeeping = Housekeeping(
        WebhookDeliveries(database), WorkerSettings(housekeeping_interval_seconds=0.02)
    )
    caplog.set_level(logging.ERROR, logger="venta_core.transports.worker.housekeeping")
    try:
        await housekeeping.start()
        await wait_until(_at_least(housekeeping, 2))
        assert housekeeping.running
    finally:
        await housekeeping.stop()
        await database.stop()

    assert housekeeping.passes == 0
    assert "housekeeping pass failed" in caplog.text


def _at_least(housekeeping: Housekeeping, failures: int) -> Any:
    async def check() -> bool:
        return housekeeping.failed_passes >= failures

    return check


async def test_the_worker_runs_the_housekeeping_while_it_runs(
    db: Database, settings: Settings
) -> None:
    registry = CollectorRegistry()
    worker_settings = WorkerSettings(housekeeping_interval_seconds=0.05)
    stream = MemoryEventStream(stream_specs(settings), max_msgs=100)
    worker = EventWorker(
        stream,
        [],
        prefix="venta",
        settings=worker_settings,
        metrics=WorkerMetrics(registry),
        volatile=True,
        deliveries=WebhookDeliveries(db),
    )
    await put_claim(db, "p", "old", age=timedelta(days=31), completed=True)
    assert worker.housekeeping is not None

    await worker.start()
    try:
        await wait_until(lambda: _gone(db, "old"))
    finally:
        await worker.stop()

    assert not worker.housekeeping.running
    assert registry.get_sample_value("venta_webhook_claims_purged_total") == 1


def test_a_worker_without_webhook_deliveries_has_no_housekeeping(settings: Settings) -> None:
    stream = MemoryEventStream(stream_specs(settings), max_msgs=100)
    worker = EventWorker(
        stream,
        [],
        prefix="venta",
        settings=WorkerSettings(),
        metrics=WorkerMetrics(CollectorRegistry()),
    )

    assert worker.housekeeping is None


def test_worker_settings_bound_the_retention_and_interval() -> None:
    defaults = WorkerSettings()
    assert (defaults.webhook_retention_days, defaults.housekeeping_interval_seconds) == (30, 3600)
    with pytest.raises(ValueError, match="webhook_retention_days"):
        WorkerSettings(webhook_retention_days=0.5)  # shorter than the providers retry
    with pytest.raises(ValueError, match="housekeeping_interval_seconds"):
        WorkerSettings(housekeeping_interval_seconds=0)


# -- migration 0003 ----------------------------------------------------------------------------


def _read_sync(settings: Settings, read: Any) -> Any:
    async def run() -> Any:
        async with migrate.connect(settings.database_url) as connection:
            return await connection.run_sync(read)

    return asyncio.run(run())


#: ``processed_webhooks`` as revision 0002 made it.
CLAIMS_0002 = sa.table(
    "processed_webhooks",
    sa.column("provider", sa.String()),
    sa.column("delivery_id", sa.String()),
    sa.column("received_at", sa.DateTime(timezone=True)),
)


def _insert_0002_claim(connection: sa.Connection) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    connection.execute(
        sa.insert(CLAIMS_0002).values(provider="clerk", delivery_id="msg_1", received_at=at)
    )
    connection.commit()


def _columns(connection: sa.Connection) -> list[str]:
    return [c["name"] for c in sa.inspect(connection).get_columns("processed_webhooks")]


def _claims(connection: sa.Connection) -> list[tuple[Any, ...]]:
    names = _columns(connection)
    rows_found = connection.execute(sa.text("SELECT * FROM processed_webhooks")).all()
    return [tuple(zip(names, row, strict=True)) for row in rows_found]


def test_migration_0003_counts_existing_claims_as_completed_and_rolls_back(
    db_settings: Settings,
) -> None:
    migrate.upgrade(db_settings, "0002")
    _read_sync(db_settings, _insert_0002_claim)

    migrate.upgrade(db_settings, "0003")

    [claim] = _read_sync(db_settings, _claims)
    values = dict(claim)
    assert values["delivery_id"] == "msg_1"
    assert values["completed_at"] is not None
    assert values["completed_at"] == values["received_at"]

    migrate.downgrade(db_settings, "0002")

    assert migrate.current(db_settings) == "0002"
    assert _read_sync(db_settings, _columns) == ["provider", "delivery_id", "received_at"]
    [kept] = _read_sync(db_settings, _claims)
    assert dict(kept)["delivery_id"] == "msg_1"

    migrate.upgrade(db_settings, "0003")
    assert "completed_at" in _read_sync(db_settings, _columns)
