"""Redis presence, shared by every ws process.

Keys (``P`` = the key prefix): ``{P:presence}:holders`` (hash vendor -> holder token) and
``{P:presence}:deadlines`` (sorted set vendor -> deadline, milliseconds of Redis server time).
Every operation is one Lua script over both keys, so a renewal and a take never interleave: an
expired vendor is taken by exactly one process, and a vendor renewed before the take is not taken.

The braces are a Redis Cluster hash tag: both keys hash to one slot, which a multi-key script
needs on a cluster. A single primary uses the same names, so both behave alike. (Earlier releases
named the keys ``P:presence:holders`` / ``P:presence:deadlines``. Presence is rebuilt within one
renewal period by the connected processes, so nothing is migrated: holds still under the old
names are swept by processes of the earlier release while they run, and ignored afterwards.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venta_core.ports.presence import MAX_TAKE
from venta_core.ports.presence_memory import check_take_limit, check_ttl
from venta_core.ports.redis_conn import RedisConnection, guarded

__all__ = ["RedisPresence"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: holders, deadlines. ARGV: ttl_ms, vendor1, holder1, vendor2, holder2, ...
_HOLD = (
    _NOW
    + """
local deadline = now + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], deadline, ARGV[i])
end
return #ARGV / 2
"""
)

# KEYS: holders, deadlines. ARGV: vendor, holder, after_ms.
_LET_GO = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS: holders, deadlines. ARGV: vendor.
_HOLDER = (
    _NOW
    + """
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) <= now then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
"""
)

# KEYS: holders, deadlines. ARGV: limit.
_TAKE = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #ids > 0 then
  redis.call('ZREM', KEYS[2], unpack(ids))
  redis.call('HDEL', KEYS[1], unpack(ids))
end
return ids
"""
)

#: Vendors renewed per script call (keeps each call short; Redis runs scripts one at a time).
_HOLD_BATCH = 500


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


class RedisPresence:
    """``PresenceStore`` on Redis."""

    name = "presence"

    def __init__(self, conn: RedisConnection, *, prefix: str) -> None:
        self._conn = conn
        tag = f"{{{prefix}:presence}}"  # one hash slot for both keys (see the module docstring)
        self._keys = [f"{tag}:holders", f"{tag}:deadlines"]
        self._scripts: dict[str, Any] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        await self._conn.check()

    async def _run(self, source: str, *args: str | int) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._conn.client.register_script(source)
        return await script(keys=self._keys, args=list(args))

    @guarded
    async def hold(self, holders: Mapping[str, str], ttl_seconds: float) -> None:
        check_ttl(ttl_seconds, "ttl_seconds")
        items = list(holders.items())
        for start in range(0, len(items), _HOLD_BATCH):
            flat = [part for pair in items[start : start + _HOLD_BATCH] for part in pair]
            await self._run(_HOLD, _ms(ttl_seconds), *flat)

    @guarded
    async def let_go(self, vendor_id: str, holder: str, after_seconds: float) -> bool:
        check_ttl(after_seconds, "after_seconds")
        return bool(await self._run(_LET_GO, vendor_id, holder, _ms(after_seconds)))

    @guarded
    async def holder(self, vendor_id: str) -> str | None:
        value = await self._run(_HOLDER, vendor_id)
        return value if value is None or isinstance(value, str) else str(value)

    @guarded
    async def take_expired(self, limit: int = MAX_TAKE) -> list[str]:
        check_take_limit(limit)
        ids = await self._run(_TAKE, limit)
        return [str(i) for i in ids]
