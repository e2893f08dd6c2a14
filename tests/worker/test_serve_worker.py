"""``venta serve worker`` in process: the side port's /health, /ready and /metrics, and a
clean stop."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from tests.events.helpers import delete_streams, empty_tables, fast, wait_until
from venta_cli.serve_worker import run_worker
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.settings import Settings
from venta_core.store.outbox_age import oldest_pending_age
from venta_core.store.tables import outbox

pytestmark = pytest.mark.integration


async def test_the_worker_serves_health_readiness_and_metrics(backend_settings: Settings) -> None:
    settings = fast(backend_settings)
    app = Venta(settings, load_entry_points=False)
    if not settings.is_sqlite:
        await app.database.start()
        await empty_tables(app)
    stop = asyncio.Event()
    ports: dict[str, int] = {}
    running = asyncio.create_task(run_worker(app, stop=stop, on_ready=ports.update))
    try:
        await wait_until(lambda: _true(bool(ports) or running.done()))
        base = f"http://127.0.0.1:{ports['worker']}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {"database", "stream", "search", "worker"} <= set(checks)
            assert set(checks.values()) == {"ok"}

            owner = Actor.for_user(await app.users.ensure_user("owner"))
            vendor = await app.vendors.create_vendor(owner, VendorCreate(name="Waffle Wagon"))
            await wait_until(lambda: _indexed(app, vendor.id))
            metrics = (await client.get("/metrics")).text
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await delete_streams(settings)
    assert (
        'venta_worker_events_handled_total{handler="search-sync",type="vendor.created"} 1.0'
        in metrics
    )
    assert 'venta_worker_consumer_pending{handler="search-sync"} 0.0' in metrics
    assert "venta_outbox_pending 0.0" in metrics
    assert "venta_outbox_oldest_pending_age_seconds 0.0" in metrics  # every row relayed
    assert "venta_outbox_relayed_total 2.0" in metrics  # user.created, vendor.created
    assert "# TYPE venta_worker_events_dead_lettered_total counter" in metrics


async def test_the_age_of_the_oldest_pending_outbox_row(backend_settings: Settings) -> None:
    app = Venta(fast(backend_settings), load_entry_points=False)
    await app.database.start()
    try:
        await empty_tables(app)
        assert await oldest_pending_age(app.database) == 0.0  # nothing pending
        written = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
        async with app.database.begin() as conn:
            for minutes, sent in ((0, True), (1, False), (2, False)):
                await conn.execute(
                    sa.insert(outbox).values(
                        event_id=str(uuid.uuid4()),
                        type="test.event",
                        payload={},
                        created_at=written + timedelta(minutes=minutes),
                        sent_at=written if sent else None,
                    )
                )
        later = written + timedelta(minutes=11)
        # the oldest row not relayed was written at minute 1: 10 minutes before `later`
        assert await oldest_pending_age(app.database, now=later) == 600.0
    finally:
        await empty_tables(app)
        await app.database.stop()


async def _true(value: bool) -> bool:
    return value


async def _indexed(app: Venta, vendor_id: str) -> bool:
    return await app.search_index.get(vendor_id) is not None
