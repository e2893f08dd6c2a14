"""Fixtures of the port contract suites: every implementation of a port behind one fixture.

Memory implementations always run; Redis and NATS ones run when ``VENTA_TEST_REDIS_URL`` /
``VENTA_TEST_NATS_URL`` are set (and fail under CI when they are not, see ``tests/backends.py``).
The Redis-backed ports also run on a Redis Cluster the session starts itself (``redis-cluster``,
see ``tests/ports/cluster.py``; it needs the ``redis-server`` and ``redis-cli`` binaries).
Every test gets its own key prefix and subject root, and removes the keys it created.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
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

from .cluster import local_cluster

#: Where the Redis-backed ports run: a single primary and a Redis Cluster.
REDIS_KINDS = ["redis", "redis-cluster"]


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://`` URL (with a password) of a three-primary cluster for this session."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster.url


def redis_url(kind: str, request: pytest.FixtureRequest) -> str:
    """The URL of the Redis of ``kind`` ("redis" or "redis-cluster")."""
    if kind == "redis-cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return real_service_url("redis")


@pytest.fixture
def prefix() -> str:
    """A key prefix / subject root no other test (or parallel run) uses."""
    return f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def subject_root(prefix: str) -> str:
    return prefix.replace("-", "_")


@asynccontextmanager
async def redis_connection(prefix: str, url: str) -> AsyncIterator[RedisConnection]:
    """A started connection to the Redis at ``url``; deletes every ``prefix`` key afterwards
    (also hash-tagged ones: ``{prefix:...}...``)."""
    conn = RedisConnection(url)
    await conn.start()
    try:
        yield conn
    finally:
        keys = [
            k
            for pattern in (f"{prefix}:*", f"{{{prefix}:*")
            async for k in conn.client.scan_iter(match=pattern, count=1000)
        ]
        if keys:
            await conn.client.unlink(*keys)
        await conn.stop()


@pytest.fixture(params=REDIS_KINDS)
async def redis_conn(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[RedisConnection]:
    """A connection to a single primary, then to a cluster (tests of Redis-only behaviour)."""
    async with redis_connection(prefix, redis_url(request.param, request)) as conn:
        yield conn


@pytest.fixture
async def cluster_conn(
    request: pytest.FixtureRequest, prefix: str
) -> AsyncIterator[RedisConnection]:
    """A connection to the session's Redis Cluster only (tests of cluster-only behaviour)."""
    async with redis_connection(prefix, redis_url("redis-cluster", request)) as conn:
        yield conn


async def _redis_for(
    request: pytest.FixtureRequest, prefix: str, stack: AsyncExitStack
) -> RedisConnection | None:
    """The connection a ``memory`` / ``redis`` / ``redis-cluster`` parameter asks for, closed
    with ``stack`` (``None``: the in-process implementation)."""
    if request.param == "memory":
        return None
    url = redis_url(request.param, request)
    return await stack.enter_async_context(redis_connection(prefix, url))


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def geo(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[GeoIndex]:
    async with AsyncExitStack() as stack:
        conn = await _redis_for(request, prefix, stack)
        index: GeoIndex = MemoryGeoIndex() if conn is None else RedisGeoIndex(conn, prefix=prefix)
        await index.start()
        yield index
        await index.clear()
        await index.stop()


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def kv(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[KeyValueStore]:
    async with AsyncExitStack() as stack:
        conn = await _redis_for(request, prefix, stack)
        store: KeyValueStore = (
            MemoryKeyValue() if conn is None else RedisKeyValue(conn, prefix=prefix)
        )
        await store.start()
        yield store
        await store.stop()


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def presence(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[PresenceStore]:
    async with AsyncExitStack() as stack:
        conn = await _redis_for(request, prefix, stack)
        store: PresenceStore = (
            MemoryPresence() if conn is None else RedisPresence(conn, prefix=prefix)
        )
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
