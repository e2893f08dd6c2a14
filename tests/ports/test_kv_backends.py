"""What only one key-value implementation has: memory bounds, Redis key names."""

from __future__ import annotations

import asyncio

import pytest

from venta_core.ports import kv_memory
from venta_core.ports.kv_memory import MemoryKeyValue
from venta_core.ports.kv_redis import RedisKeyValue
from venta_core.ports.redis_conn import RedisConnection


async def test_memory_counters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kv_memory, "MAX_COUNTERS", 50)
    kv = MemoryKeyValue()
    for i in range(5000):
        await kv.hit(f"client:{i}", 10, 60)
    assert len(kv._counters) <= 50
    # The most recent clients are still counted.
    assert (await kv.hit("client:4999", 10, 60)).remaining == 8


async def test_memory_drops_expired_entries() -> None:
    kv = MemoryKeyValue()
    for i in range(3000):
        await kv.set(f"presence:{i}", "x", ttl_seconds=0.05)
    await asyncio.sleep(0.1)
    for i in range(3000):
        await kv.set(f"other:{i}", "x", ttl_seconds=60)
    assert len(kv._values) <= 3000  # the 3000 expired ones are gone


async def test_redis_keys_are_prefixed_and_expire(redis_conn: RedisConnection, prefix: str) -> None:
    kv = RedisKeyValue(redis_conn, prefix=prefix)
    await kv.set("presence:7", "on", ttl_seconds=10)
    await kv.hit("user:7", 5, 60)
    found = {k async for k in redis_conn.client.scan_iter(match=f"{prefix}:*")}
    assert f"{prefix}:kv:presence:7" in found
    counters = [k for k in found if k.startswith(f"{prefix}:rl:user:7:")]
    assert len(counters) == 1
    assert 0 < await redis_conn.client.ttl(counters[0]) <= 62
    assert 0 < await redis_conn.client.pttl(f"{prefix}:kv:presence:7") <= 10_000
