"""Vendor presence in the key-value store, with expiry.

``<prefix>:kv:presence:vendor:<vendorId>`` holds the connection that last published the vendor's
position (``<node>/<sid>``) and expires after ``presence_ttl_seconds`` unless refreshed, which
every process does for its own connections every third of the TTL. A crashed process therefore
leaves no presence behind, and a vendor that reconnects to another process within the offline
grace period keeps its position: the process it left sees someone else's token and stands down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from venta_core.ports.kv import KeyValueStore
from venta_core.transports.realtime.session import Session

__all__ = ["Presence"]

log = logging.getLogger(__name__)

OfflineHandler = Callable[[Session, str], Awaitable[None]]


def presence_key(vendor_id: str) -> str:
    return f"presence:vendor:{vendor_id}"


class Presence:
    def __init__(
        self,
        kv: KeyValueStore,
        *,
        ttl_seconds: float,
        grace_seconds: float,
        on_offline: OfflineHandler,
    ) -> None:
        self._kv = kv
        self._ttl = ttl_seconds
        self._grace = grace_seconds
        self._on_offline = on_offline
        self.node = uuid.uuid4().hex[:12]
        self._vendors: dict[Session, None] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self.stopping = False

    def token(self, session: Session) -> str:
        return f"{self.node}/{session.sid}"

    async def online(self, session: Session, vendor_id: str) -> None:
        """``vendor_id`` publishes through ``session`` (called on its first update there)."""
        session.presence_token = self.token(session)
        self._vendors[session] = None
        await self._kv.set(presence_key(vendor_id), session.presence_token, self._ttl)

    def disconnected(self, session: Session) -> None:
        """Schedule the offline check of each vendor the session published."""
        self._vendors.pop(session, None)
        if self.stopping:
            return  # a draining process: its vendors reconnect elsewhere
        for vendor_id in session.vendors:
            task = asyncio.ensure_future(self._offline_later(session, vendor_id))
            self._timers.add(task)
            task.add_done_callback(self._timers.discard)

    async def _offline_later(self, session: Session, vendor_id: str) -> None:
        await asyncio.sleep(self._grace)
        if self.stopping:
            return
        key = presence_key(vendor_id)
        try:
            current = await self._kv.get(key)
            if current is not None and current != session.presence_token:
                return  # reconnected (here or elsewhere) in time
            await self._kv.delete(key)
            await self._on_offline(session, vendor_id)
        except Exception:
            log.warning("taking vendor %s offline failed", vendor_id, exc_info=True)

    async def start(self) -> None:
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def stop(self) -> None:
        self.stopping = True
        tasks = [*self._timers, *([self._heartbeat] if self._heartbeat else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            refresh = [
                (presence_key(vid), s.presence_token)
                for s in list(self._vendors)
                for vid in s.vendors
            ]
            for start in range(0, len(refresh), 100):
                batch = refresh[start : start + 100]
                results = await asyncio.gather(
                    *(self._kv.set(key, token, self._ttl) for key, token in batch),
                    return_exceptions=True,
                )
                if any(isinstance(r, Exception) for r in results):
                    log.warning("refreshing vendor presence failed for some vendors")
