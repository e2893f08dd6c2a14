"""RedisConnection: lifecycle, URL redaction, and picking a single primary or a Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection

from tests.backends import real_service_url
from venta_core.errors import ServiceUnavailable
from venta_core.ports.redis_conn import (
    ClusterUrl,
    RedisConnection,
    parse_cluster_url,
    redact_url,
)

#: What a failing check raises: redis-py's cluster client reports an unreachable or refusing
#: cluster with RedisClusterException, which is not a RedisError.
CHECK_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://app:s3cret@cache:6380/1") == "redis://app:***@cache:6380/1"
    assert redact_url("redis://:s3cret@cache/0") == "redis://:***@cache/0"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
    assert redact_url("redis://cache:6379/0?password=s3cret") == "redis://cache:6379/0?password=***"
    assert "s3cret" not in repr(RedisConnection("redis://app:s3cret@cache:6380/1"))


def test_redact_url_handles_cluster_node_lists() -> None:
    url = "rediss+cluster://app:s3cret@a:7000,b:7001,[::1]:7002/0"
    assert redact_url(url) == "rediss+cluster://app:***@a:7000,b:7001,[::1]:7002/0"
    assert redact_url("redis+cluster://a:7000,b:7001") == "redis+cluster://a:7000,b:7001"
    assert "s3cret" not in repr(RedisConnection(url))


def test_parse_cluster_url() -> None:
    assert parse_cluster_url("redis://cache:6379/0") is None
    assert parse_cluster_url("redis+cluster://app:p%40ss@a:7000, b ,[::1]:7002/0?x=1") == (
        ClusterUrl(
            first="redis://app:p%40ss@a:7000/0?x=1",
            nodes=(("a", 7000), ("b", 6379), ("::1", 7002)),
            tls=False,
        )
    )
    tls = parse_cluster_url("REDISS+CLUSTER://cache")
    assert tls == ClusterUrl(first="rediss://cache", nodes=(("cache", 6379),), tls=True)


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://",
        "redis+cluster://a:7000,",
        "redis+cluster://a:x",
        "redis+cluster://a:70000",
        "redis+cluster://:s3cret@a:7000/1",
    ],
)
def test_bad_cluster_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError) as error:
        RedisConnection(url)
    assert "s3cret" not in str(error.value)


async def test_the_url_scheme_picks_the_client() -> None:
    single = RedisConnection("redis://127.0.0.1:1/0")
    cluster = RedisConnection("rediss+cluster://:s3cret@127.0.0.1:1,127.0.0.1:2")
    assert not single.cluster and cluster.cluster
    await single.start()
    await cluster.start()
    try:
        assert isinstance(single.client, Redis)
        client = cluster.client
        assert isinstance(client, RedisCluster)
        assert {(n.host, n.port) for n in client.startup_nodes} == {
            ("127.0.0.1", 1),
            ("127.0.0.1", 2),
        }
        assert client.connection_kwargs["password"] == "s3cret"
        assert client.connection_kwargs["connection_class"] is SSLConnection
        assert client.connection_kwargs["decode_responses"] is True
    finally:
        await single.stop()
        await cluster.stop()


async def test_lifecycle() -> None:
    conn = RedisConnection(real_service_url("redis"))
    with pytest.raises(RuntimeError):
        _ = conn.client
    await conn.start()
    await conn.check()
    await conn.stop()
    await conn.stop()
    with pytest.raises(RuntimeError):
        await conn.check()


async def test_cluster_lifecycle(redis_cluster_url: str) -> None:
    conn = RedisConnection(redis_cluster_url)
    await conn.start()
    await conn.check()
    client = conn.client
    assert isinstance(client, RedisCluster)
    assert len(client.get_primaries()) == 3  # discovered from the startup nodes
    await conn.stop()
    with pytest.raises(RuntimeError):
        await conn.check()


async def test_a_fresh_cluster_client_takes_a_burst_of_commands(redis_cluster_url: str) -> None:
    """A process starts and serves many requests at once: its first commands all race the
    client's lazy discovery of the cluster."""
    conn = RedisConnection(redis_cluster_url)
    await conn.start()
    try:
        client = conn.client
        results = await asyncio.gather(*(client.hget("{burst}:h", "f") for _ in range(30)))
        assert results == [None] * 30
    finally:
        await conn.stop()


async def test_a_cluster_needs_only_one_reachable_startup_node(redis_cluster_url: str) -> None:
    url = redis_cluster_url.replace("@", "@127.0.0.1:1,", 1)  # a dead node listed first
    conn = RedisConnection(url)
    await conn.start()
    try:
        await conn.check()
    finally:
        await conn.stop()


async def test_a_wrong_cluster_password_fails_check(redis_cluster_url: str) -> None:
    conn = RedisConnection(redis_cluster_url.replace("://:", "://:wrong", 1))
    await conn.start()
    with pytest.raises(CHECK_ERRORS):
        await conn.check()
    await conn.stop()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis+cluster://127.0.0.1:1"])
async def test_unreachable_redis_fails_check_not_start(url: str) -> None:
    conn = RedisConnection(url)
    await conn.start()
    # an unreachable server is an outage (ServiceUnavailable); what else the client raises
    # (a cluster that cannot be mapped) passes through
    with pytest.raises((*CHECK_ERRORS, ServiceUnavailable)):
        await conn.check()
    await conn.stop()
