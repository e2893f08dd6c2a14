"""Faults on real services: PostgreSQL, and a nats-server with JetStream of the test's own that
is stopped and restarted; a worker process killed in the middle of a batch.

Whatever happens, every vendor event reaches the search index exactly once in effect: each
vendor indexed once, each event stored once in the stream, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import NatsServer, empty_tables, fast, wait_until
from tests.store.scratch import child_env
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.relay import dlq_stream_name, stream_name
from venta_core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(postgres_url: str, nats_server: NatsServer) -> Settings:
    base = Settings(
        _env_file=None,
        database_url=postgres_url,
        redis_url=real_service_url("redis"),
        nats_url=nats_server.url,
        key_prefix=f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
        database_auto_migrate=False,
    )
    return fast(base, relay_interval_seconds=0.2, publish_timeout_seconds=1.0)


async def _start(settings: Settings, *, worker: bool) -> Venta:
    app = Venta(settings, load_entry_points=False)
    await app.database.start()
    if worker:
        app.enable_worker()
    await app.start()
    return app


@pytest.fixture
async def clean(settings: Settings) -> AsyncIterator[None]:
    app = Venta(settings, load_entry_points=False)
    await app.database.start()
    await empty_tables(app)
    await app.database.stop()
    yield


async def _create(app: Venta, count: int, start: int = 0) -> list[str]:
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    return [
        (await app.vendors.create_vendor(owner, VendorCreate(name=f"Stall {n}"))).id
        for n in range(start, start + count)
    ]


async def _stream_counts(settings: Settings) -> tuple[int, int]:
    """Messages stored in the event stream and in the dead-letter stream."""
    import nats

    nc = await nats.connect(settings.nats_url or "", connect_timeout=2)
    try:
        js = nc.jetstream()
        events = (await js.stream_info(stream_name(settings))).state.messages
        dead = (await js.stream_info(dlq_stream_name(settings))).state.messages
        return int(events), int(dead)
    finally:
        await nc.close()


async def _outbox_rows(app: Venta) -> int:
    import sqlalchemy as sa

    from venta_core.store.tables import outbox

    async with app.database.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(outbox)) or 0)


@pytest.mark.usefixtures("clean")
async def test_a_nats_outage_delays_events_and_loses_none(
    settings: Settings, nats_server: NatsServer
) -> None:
    app = await _start(settings, worker=True)
    try:
        before = await _create(app, 5)
        await wait_until(lambda: _indexed(app, len(before)))

        nats_server.stop()
        during = await _create(app, 10, start=5)  # the database takes them; NATS is down
        await asyncio.sleep(1.0)
        assert await app.relay.pending_count() == len(during)
        assert await app.search_index.count() == len(before)

        nats_server.start()
        await wait_until(lambda: _indexed(app, len(before) + len(during)), timeout=30)
        await wait_until(lambda: _relayed(app), timeout=10)
        events, dead = await _stream_counts(settings)
        assert events == await _outbox_rows(app)  # each event stored once
        assert dead == 0
        for vendor_id in before + during:
            assert await app.search_index.get(vendor_id) is not None
    finally:
        await app.stop()


def _worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = child_env(
        VENTA_DATABASE_URL=settings.database_url,
        VENTA_REDIS_URL=settings.redis_url or "",
        VENTA_NATS_URL=settings.nats_url or "",
        VENTA_KEY_PREFIX=settings.key_prefix,
        VENTA_DATABASE_AUTO_MIGRATE="false",
        VENTA_EVENTS__RELAY_ENABLED="false",
        VENTA_WORKER__PORT="0",
        VENTA_WORKER__CONCURRENCY="1",
        # Small batches, so that 300 events take many of them and a kill lands mid-stream.
        VENTA_WORKER__BATCH_SIZE="10",
        VENTA_WORKER__ACK_WAIT_SECONDS="1",
        VENTA_LOG__LEVEL="WARNING",
    )
    code = "from venta_cli.serve_worker import serve_worker; serve_worker()"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)


@pytest.mark.usefixtures("clean")
async def test_a_worker_killed_mid_batch_loses_nothing(settings: Settings) -> None:
    app = await _start(settings, worker=False)  # writes and relays; workers are processes
    total = 300
    first = _worker_process(settings)
    second: subprocess.Popen[bytes] | None = None
    try:
        await _create(app, total)
        await wait_until(lambda: _indexed_at_least(app, 20), timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = await app.search_index.count()
        assert 0 < killed_at < total, "the worker was not killed in the middle of the batch"

        second = _worker_process(settings)
        await wait_until(lambda: _indexed(app, total), timeout=60)
        second.send_signal(signal.SIGTERM)  # a graceful stop this time
        assert await asyncio.to_thread(second.wait, 30) == 0, second.stderr
        events, dead = await _stream_counts(settings)
        assert events == await _outbox_rows(app) == total + 1
        assert dead == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        await app.stop()


async def _indexed(app: Venta, count: int) -> bool:
    return await app.search_index.count() == count


async def _indexed_at_least(app: Venta, count: int) -> bool:
    return await app.search_index.count() >= count


async def _relayed(app: Venta) -> bool:
    return await app.relay.pending_count() == 0
