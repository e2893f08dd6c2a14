"""Redis key-value store, shared by every process: rate-limit counters and short-lived values.

Keys: ``{prefix}:rl:{key}:{window}`` (fixed-window counter, expires one second after its window)
and ``{prefix}:kv:{key}`` (values). Windows are numbered from the epoch by this process's clock, so
processes behind one limit should run NTP, as any server does.
"""

from __future__ import annotations

import math
import time

from venta_core.ports.kv import RateDecision
from venta_core.ports.kv_memory import rate_decision, validate_ttl, window_of
from venta_core.ports.redis_conn import RedisConnection

__all__ = ["RedisKeyValue"]


class RedisKeyValue:
    """``KeyValueStore`` on Redis."""

    name = "kv"

    def __init__(self, conn: RedisConnection, *, prefix: str) -> None:
        self._conn = conn
        self._prefix = prefix

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        await self._conn.check()

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        now = time.time()
        window, reset_after = window_of(window_seconds, now)
        counter = f"{self._prefix}:rl:{key}:{window}"
        async with self._conn.client.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expireat(counter, math.ceil(now + reset_after) + 1)
            count, _ = await pipe.execute()
        return rate_decision(int(count), limit, reset_after)

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        validate_ttl(ttl_seconds)
        px = None if ttl_seconds is None else max(1, math.ceil(ttl_seconds * 1000))
        await self._conn.client.set(self._key(key), value, px=px)

    async def get(self, key: str) -> str | None:
        value = await self._conn.client.get(self._key(key))
        return value if value is None or isinstance(value, str) else value.decode()

    async def delete(self, key: str) -> bool:
        return bool(await self._conn.client.delete(self._key(key)))

    def _key(self, key: str) -> str:
        return f"{self._prefix}:kv:{key}"
