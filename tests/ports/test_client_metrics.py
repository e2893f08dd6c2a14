"""The client metrics of a process (``venta_core.observability.client_metrics``), driven through
the real clients: the database pool under contention, Redis round trips and a Redis outage,
NATS publishes and requests (core and JetStream). Figures are read from a registry as
``/metrics`` renders them, as differences from the same run's values before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from tests.faults import RedisServer, started
from venta_core.errors import ServiceUnavailable
from venta_core.observability.metrics import new_registry, render
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.kv_redis import RedisKeyValue
from venta_core.ports.redis_conn import RedisConnection
from venta_core.settings import Settings
from venta_core.store.engine import Database

REGISTRY = new_registry()


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_role_registry_exposes_the_client_metrics() -> None:
    text = render(new_registry())[0].decode()
    for family in (
        "venta_db_pool_connections_in_use",
        "venta_db_pool_waiting",
        "venta_db_pool_checkout_wait_seconds",
        "venta_redis_command_duration_seconds",
        "venta_redis_errors_total",
        "venta_nats_published_messages_total",
        "venta_rate_limit_rejections_total",
        "venta_jwks_fetches_total",
        "venta_webhook_deliveries_total",
    ):
        assert f"# TYPE {family} " in text, family


# -- database pool -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pool.db'}"
    return real_service_url("database")


async def test_the_pool_gauges_and_wait_under_contention(database_url: str) -> None:
    """A pool of 2 (one plus one overflow on PostgreSQL; SQLite's own pool of 5 plus 10) filled
    by held connections: one more request waits, is counted waiting, and its wait is observed
    once a connection comes back."""
    database = Database(Settings(_env_file=None, database_url=database_url, database_pool_size=1))
    await database.start()
    try:
        status = database.pool_status()
        assert status is not None
        capacity = status[2]
        assert capacity == (15 if database.is_sqlite else 2)
        waits = value("venta_db_pool_checkout_wait_seconds_count")
        in_use = value("venta_db_pool_connections_in_use")
        release = asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with database.connect():
                holding += 1
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(capacity)]
        while holding < capacity:
            await asyncio.sleep(0.01)
        assert value("venta_db_pool_connections_in_use") == in_use + capacity
        assert value("venta_db_pool_connections_max") >= capacity

        waiting = value("venta_db_pool_waiting")
        late = asyncio.create_task(hold())
        while value("venta_db_pool_waiting") < waiting + 1:  # blocked: every connection held
            await asyncio.sleep(0.01)
        assert not late.done()
        release.set()
        await asyncio.gather(*holders, late)
        assert value("venta_db_pool_waiting") == waiting
        assert value("venta_db_pool_checkout_wait_seconds_count") == waits + capacity + 1
        assert value("venta_db_pool_connections_in_use") == in_use
        assert value("venta_db_pool_connections_idle") >= 1
    finally:
        await database.stop()
    assert database.pool_status() is None  # a stopped database counts nothing


# -- Redis ---------------------------------------------------------------------------------------


def _redis_count(command: str) -> float:
    return value("venta_redis_command_duration_seconds_count", command=command)


async def test_redis_round_trips_are_counted_by_command() -> None:
    conn = RedisConnection(real_service_url("redis"))
    await conn.start()
    try:
        key = f"{RUN_PREFIX}:metrics:{uuid.uuid4().hex}"
        sets, pipelines = _redis_count("SET"), _redis_count("PIPELINE")
        await conn.client.set(key, "1", ex=60)
        async with conn.client.pipeline(transaction=False) as pipe:
            pipe.get(key).delete(key)  # two commands, one round trip
            assert await pipe.execute() == ["1", 1]
        assert _redis_count("SET") == sets + 1
        assert _redis_count("PIPELINE") == pipelines + 1
        evals = _redis_count("EVALSHA")
        kv = RedisKeyValue(conn, prefix=f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}")
        await kv.hit("metrics", 5, 60)  # a Lua script: EVALSHA (after SCRIPT LOAD, maybe)
        assert _redis_count("EVALSHA") >= evals + 1
    finally:
        await conn.stop()


async def test_a_redis_outage_counts_errors_by_command(tmp_path: Path) -> None:
    with started(RedisServer(tmp_path)) as server:
        conn = RedisConnection(server.url)
        await conn.start()
        try:
            await conn.client.set("k", "v")
            server.stop()
            errors = value("venta_redis_errors_total", command="GET", error="ConnectionError")
            kv = RedisKeyValue(conn, prefix="metrics")
            with pytest.raises(ServiceUnavailable):
                await kv.get("k")
            after = value("venta_redis_errors_total", command="GET", error="ConnectionError")
            assert after == errors + 1
        finally:
            await conn.stop()


# -- NATS ----------------------------------------------------------------------------------------


@pytest.fixture
def nats_url() -> Iterator[str]:
    yield real_service_url("nats")


async def test_nats_publishes_and_requests_are_counted(nats_url: str) -> None:
    bus = NatsEventBus(nats_url)
    await bus.start()
    try:
        subject = f"{RUN_PREFIX}.metrics.{uuid.uuid4().hex[:8]}"
        published = value("venta_nats_published_messages_total", kind="message")
        await bus.publish(subject, b"x")
        assert value("venta_nats_published_messages_total", kind="message") == published + 1

        requests = value("venta_nats_request_duration_seconds_count", kind="api")
        await bus.nc.jetstream().account_info()  # a JetStream API call: one request
        assert value("venta_nats_request_duration_seconds_count", kind="api") == requests + 1

        errors = value("venta_nats_errors_total", operation="request", error="NoRespondersError")
        with pytest.raises(Exception, match="no responders"):
            await bus.nc.request(f"{subject}.nobody", b"?", timeout=2)
        after = value("venta_nats_errors_total", operation="request", error="NoRespondersError")
        assert after == errors + 1
    finally:
        await bus.stop()
