"""A refill claim, kept in one Redis key beside the data it is about (the geo index's).

The key says whether the data was filled since it was last empty: absent (never, or emptied
since), ``claim:<token>`` while one process fills it (with an expiry, so a process that died
filling it does not block the others for long), or ``filled``. Whatever empties the data also
removes the key: ``FLUSHALL``, a restart without persistence, a failover to an empty replica,
the index's own ``clear()``. So a process that finds the key absent knows the data must be
filled again, and ``SET NX`` lets exactly one of many such processes do it.

Ending a claim compares the key with the claim first (one script): a claim that expired, or
data emptied again while it was being filled, is not marked filled, and the next check fills
it again.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from venta_core.ports.redis_conn import RedisConnection

__all__ = ["RedisRefillClaim"]

_FILLED = "filled"
_CLAIM = "claim:"

# KEYS: the claim key. ARGV: the claim's value, "1" to mark filled or "0" to give up.
_END_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], 'filled')
else
  redis.call('DEL', KEYS[1])
end
return 1
"""


class RedisRefillClaim:
    """The claim key ``key`` on ``conn`` (see the module docstring)."""

    def __init__(self, conn: RedisConnection, key: str) -> None:
        self._conn = conn
        self.key = key
        self._end: Any = None

    async def claim(self, ttl_seconds: float) -> str | None:
        """A token when this process may fill the data now; None when it is filled or claimed."""
        token = uuid.uuid4().hex
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        won = await self._conn.client.set(self.key, _CLAIM + token, nx=True, px=ttl_ms)
        return token if won else None

    async def end(self, token: str, *, filled: bool) -> bool:
        if self._end is None:
            self._end = self._conn.client.register_script(_END_LUA)
        done = await self._end([self.key], [_CLAIM + token, "1" if filled else "0"])
        return bool(done)

    async def filled(self) -> bool:
        return bool(await self._conn.client.get(self.key) == _FILLED)
