"""Key-value port: rate-limit counters and short-lived values.

Implementations: ``MemoryKeyValue`` (one process) and ``RedisKeyValue`` (shared by all processes).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["KeyValueStore", "RateDecision"]


class RateDecision(NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the current window ends


class KeyValueStore(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Count one event for ``key`` in a fixed window and say whether it is within ``limit``."""
        ...

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def delete(self, key: str) -> bool: ...
