"""Presence port: which connection holds each connected vendor, and until when.

A ws process *holds* the vendors that publish through its connections and renews them while
they stay connected. A vendor whose hold is not renewed (its connection dropped, or its process
crashed) *expires*; any process may then take it, once, and remove its live position. This is
how a crashed process leaves no vendors on the map (docs/realtime.md, "Going offline").

Implementations: ``MemoryPresence`` (one process) and ``RedisPresence`` (shared; deadlines are
kept in Redis server time, so processes' clocks do not matter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["MAX_TAKE", "PresenceStore"]

#: Most vendors one ``take_expired`` call returns.
MAX_TAKE = 1000


class PresenceStore(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def hold(self, holders: Mapping[str, str], ttl_seconds: float) -> None:
        """Each vendor of ``holders`` is held by its value (a connection token) until
        ``ttl_seconds`` from now; creates or renews."""
        ...

    async def let_go(self, vendor_id: str, holder: str, after_seconds: float) -> bool:
        """If ``holder`` still holds the vendor, let it expire ``after_seconds`` from now.
        False (and nothing changes) when another connection holds it or nobody does."""
        ...

    async def holder(self, vendor_id: str) -> str | None:
        """Who holds the vendor now (``None``: nobody, or the hold expired)."""
        ...

    async def take_expired(self, limit: int = MAX_TAKE) -> list[str]:
        """Remove and return up to ``limit`` vendors whose hold expired. Each expired vendor is
        returned to exactly one caller, whichever process asks first."""
        ...
