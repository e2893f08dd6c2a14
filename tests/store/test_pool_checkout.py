"""The PostgreSQL pool hands out working connections without pinging hot ones
(``store/engine._check_on_checkout``): a connection the server closed while it sat in the pool
(``pg_terminate_backend``, as a restart does to every one) is replaced before a request gets
it, a connection idle for a while is pinged, one used a moment ago is not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import real_settings
from tests.events.helpers import wait_until
from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.store import engine as engine_module
from venta_core.store.engine import Database
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

POOLED = 4


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(real_settings(postgres_url, database_pool_size=POOLED))
    await db.start()
    yield db
    await db.stop()


async def _pooled_pids(db: Database, count: int) -> set[int]:
    """Check ``count`` connections out at once and back in; their backend pids."""
    pids: set[int] = set()
    release = asyncio.Event()

    async def hold() -> None:
        async with db.connect() as conn:
            pids.add((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            if len(pids) == count:
                release.set()
            await release.wait()

    await asyncio.gather(*(hold() for _ in range(count)))
    return pids


async def _terminate(db: Database, pids: set[int]) -> None:
    """End those backends from outside the pool and wait until PostgreSQL has let them go."""
    outside = create_async_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        async with outside.connect() as conn:
            query = sa.text(
                "SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"
            )
            await conn.execute(query, {"pids": list(pids)})

        async def gone() -> bool:
            async with outside.connect() as conn:
                query = sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"
                )
                return (await conn.execute(query, {"pids": list(pids)})).scalar_one() == 0

        await wait_until(gone, timeout=10, every=0.05)
    finally:
        await outside.dispose()


async def test_connections_terminated_while_pooled_are_replaced_before_use(
    database: Database,
) -> None:
    pids = await _pooled_pids(database, POOLED)
    assert len(pids) == POOLED
    await _terminate(database, pids)

    # Every pooled connection is broken; each checkout gets a working one.
    fresh = await _pooled_pids(database, POOLED)
    assert len(fresh) == POOLED and not fresh & pids
    assert database.dependency.available and database.dependency.outages == 0


async def test_hot_connections_are_not_pinged_idle_ones_are(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(self)
        ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    for _ in range(5):
        await database.check()
    assert pings == []  # a new connection, then the same one used a moment ago

    monkeypatch.setattr(engine_module, "PING_IDLE_AFTER_S", 0.0)
    await asyncio.sleep(0.01)
    await database.check()
    assert len(pings) == 1


async def test_a_failed_ping_of_an_idle_connection_replaces_the_pool(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection broken without the server closing it (a network that drops packets) is
    found by the ping of an idle connection; the request gets a new connection."""
    (before,) = await _pooled_pids(database, 1)

    def broken(self: AsyncAdapt_asyncpg_connection) -> None:
        raise OSError("no route to host")

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", broken)
    monkeypatch.setattr(engine_module, "PING_IDLE_AFTER_S", 0.0)
    await asyncio.sleep(0.01)
    (after,) = await _pooled_pids(database, 1)  # the new connection is not pinged
    assert after != before
    assert database.dependency.outages == 0


async def test_a_request_after_the_pooled_connections_were_terminated_succeeds(
    postgres_url: str,
) -> None:
    """Through the gateway: a database restart ends every pooled connection; the next
    requests are answered, not failed with 503."""
    settings = real_settings(
        postgres_url, database_pool_size=POOLED, key_prefix=f"pool{uuid.uuid4().hex[:6]}"
    )
    async with Venta(settings, load_entry_points=False) as app:
        api = create_http_app(app)
        token = DevTokenProvider(settings.auth).issue("pool-owner")
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as http:
            created = await http.post("/v1/vendors", json={"name": "Pool Pies"}, headers=headers)
            assert created.status_code == 201, created.text
            vendor = f"/v1/vendors/{created.json()['id']}"
            pids = await _pooled_pids(app.database, POOLED)
            await _terminate(app.database, pids)

            answers = await asyncio.gather(
                *(http.get(vendor, headers=headers) for _ in range(2 * POOLED))
            )
            assert [a.status_code for a in answers] == [200] * 2 * POOLED, answers[0].text
