"""Fixtures of the port contract suites: every implementation of a port behind one fixture.

Memory implementations always run; Redis and NATS ones run when ``VENTA_TEST_REDIS_URL`` /
``VENTA_TEST_NATS_URL`` are set (and fail under CI when they are not, see ``tests/backends.py``).
Every test gets its own key prefix and subject root, and removes the keys it created.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.ports.bus import EventBus
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.geo import GeoIndex
from venta_core.ports.geo_memory import MemoryGeoIndex
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.kv import KeyValueStore
from venta_core.ports.kv_memory import MemoryKeyValue
from venta_core.ports.kv_redis import RedisKeyValue
from venta_core.ports.presence import PresenceStore
from venta_core.ports.presence_memory import MemoryPresence
from venta_core.ports.presence_redis import RedisPresence
from venta_core.ports.redis_conn import RedisConnection


@pytest.fixture
def prefix() -> str:
    """A key prefix / subject root no other test (or parallel run) uses."""
    return f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def subject_root(prefix: str) -> str:
    return prefix.replace("-", "_")


@asynccontextmanager
async def redis_connection(prefix: str) -> AsyncIterator[RedisConnection]:
    """A started connection to the test Redis; deletes every ``prefix`` key afterwards."""
    conn = RedisConnection(real_service_url("redis"))
    await conn.start()
    try:
        yield conn
    finally:
        keys = [k async for k in conn.client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await conn.client.unlink(*keys)
        await conn.stop()


@pytest.fixture
async def redis_conn(prefix: str) -> AsyncIterator[RedisConnection]:
    async with redis_connection(prefix) as conn:
        yield conn


@pytest.fixture(params=["memory", "redis"])
async def geo(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[GeoIndex]:
    async with AsyncExitStack() as stack:
        index: GeoIndex = MemoryGeoIndex()
        if request.param == "redis":
            conn = await stack.enter_async_context(redis_connection(prefix))
            index = RedisGeoIndex(conn, prefix=prefix)
        await index.start()
        yield index
        await index.clear()
        await index.stop()


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[KeyValueStore]:
    async with AsyncExitStack() as stack:
        store: KeyValueStore = MemoryKeyValue()
        if request.param == "redis":
            conn = await stack.enter_async_context(redis_connection(prefix))
            store = RedisKeyValue(conn, prefix=prefix)
        await store.start()
        yield store
        await store.stop()


@pytest.fixture(params=["memory", "redis"])
async def presence(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[PresenceStore]:
    async with AsyncExitStack() as stack:
        store: PresenceStore = MemoryPresence()
        if request.param == "redis":
            conn = await stack.enter_async_context(redis_connection(prefix))
            store = RedisPresence(conn, prefix=prefix)
        await store.start()
        yield store
        await store.stop()


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    impl: EventBus
    impl = MemoryEventBus() if request.param == "memory" else NatsEventBus(real_service_url("nats"))
    await impl.start()
    yield impl
    await impl.stop()
