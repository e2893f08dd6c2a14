"""Redis key-value store, shared by every process: rate-limit counters and short-lived values.

Keys: ``{prefix}:rl:{key}:{window}`` (fixed-window counter, expires one second after its window)
and ``{prefix}:kv:{key}`` (values). Windows are numbered from the epoch by this process's clock, so
processes behind one limit should run NTP, as any server does.

Every command addresses one key, and so does the one script (INCR and EXPIREAT of a counter),
so the store runs unchanged on a Redis Cluster: the keys spread over its slots. (A script rather
than MULTI: redis-py runs a cluster transaction through a thread per queued command.)
"""

from __future__ import annotations

import math
import time
from typing import Any

from venta_core.ports.kv import RateDecision
from venta_core.ports.kv_memory import rate_decision, validate_ttl, window_of
from venta_core.ports.redis_conn import RedisConnection, guarded

__all__ = ["RedisKeyValue"]

# Count one hit and make the counter expire with its window, atomically (a counter never
# outlives its window, even when this process dies between the two).
# KEYS: counter. ARGV: expiry, unix seconds.
_HIT_LUA = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return count
"""


class RedisKeyValue:
    """``KeyValueStore`` on Redis."""

    name = "kv"

    def __init__(self, conn: RedisConnection, *, prefix: str) -> None:
        self._conn = conn
        self._prefix = prefix
        self._hit_script: Any = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        await self._conn.check()

    @guarded
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        now = time.time()
        window, reset_after = window_of(window_seconds, now)
        counter = f"{self._prefix}:rl:{key}:{window}"
        if self._hit_script is None:
            self._hit_script = self._conn.client.register_script(_HIT_LUA)
        count = await self._hit_script([counter], [math.ceil(now + reset_after) + 1])
        return rate_decision(int(count), limit, reset_after)

    @guarded
    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        validate_ttl(ttl_seconds)
        px = None if ttl_seconds is None else max(1, math.ceil(ttl_seconds * 1000))
        await self._conn.client.set(self._key(key), value, px=px)

    @guarded
    async def get(self, key: str) -> str | None:
        value = await self._conn.client.get(self._key(key))
        return value if value is None or isinstance(value, str) else value.decode()

    @guarded
    async def delete(self, key: str) -> bool:
        return bool(await self._conn.client.delete(self._key(key)))

    def _key(self, key: str) -> str:
        return f"{self._prefix}:kv:{key}"
