"""Vendor presence: who is connected, and taking offline those who are not.

A vendor's first update through a connection makes that connection its holder in the shared
``PresenceStore`` for ``presence_ttl_seconds``; every process renews its own connections' vendors
every third of that. When a connection drops, the hold is cut to ``offline_grace_seconds``; a
reconnect (to any process) within it renews the hold under the new connection. When a process
crashes, its holds simply stop being renewed.

Either way the vendor *expires*, and every ws process sweeps expired vendors every
``presence_sweep_seconds``: the store gives each one to exactly one process, which removes its
live position through the location service, which announces ``gone`` to every watcher. One
mechanism covers a dropped connection and a crashed process alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from venta_core.errors import ServiceUnavailable
from venta_core.ports.presence import MAX_TAKE, PresenceStore
from venta_core.transports.realtime.session import Session

__all__ = ["Presence"]

log = logging.getLogger(__name__)

#: Removes one expired vendor's live position; raising puts the vendor back for a later sweep.
OfflineHandler = Callable[[str], Awaitable[None]]

#: How long a vendor whose removal failed waits before the next attempt.
RETRY_SECONDS = 5.0
#: Removals in flight at once during a sweep.
_CONCURRENCY = 32


class Presence:
    def __init__(
        self,
        store: PresenceStore,
        *,
        ttl_seconds: float,
        grace_seconds: float,
        sweep_seconds: float,
        on_offline: OfflineHandler,
        on_swept: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._grace = grace_seconds
        self._sweep_every = sweep_seconds
        self._on_offline = on_offline
        self._on_swept = on_swept
        self.node = uuid.uuid4().hex[:12]
        self._vendors: dict[Session, None] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.stopping = False

    def token(self, session: Session) -> str:
        return f"{self.node}/{session.sid}"

    async def online(self, session: Session, vendor_id: str) -> None:
        """``vendor_id`` publishes through ``session`` (called on its first update there)."""
        session.presence_token = self.token(session)
        self._vendors[session] = None
        await self._store.hold({vendor_id: session.presence_token}, self._ttl)

    def disconnected(self, session: Session) -> None:
        """Start the grace period of each vendor the session held."""
        self._vendors.pop(session, None)
        if self.stopping or not session.vendors:
            return  # a draining process: its vendors reconnect elsewhere or expire
        task = asyncio.ensure_future(self._let_go(session))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _let_go(self, session: Session) -> None:
        for vendor_id in session.vendors:
            try:
                await self._store.let_go(vendor_id, session.presence_token, self._grace)
            except ServiceUnavailable:
                pass  # the hold expires with its TTL instead; the outage is logged once
            except Exception:  # the hold expires with its TTL instead
                log.warning("releasing vendor %s failed", vendor_id, exc_info=True)

    async def start(self) -> None:
        self._loops = [
            asyncio.ensure_future(self._renew_forever()),
            asyncio.ensure_future(self._sweep_forever()),
        ]

    async def stop(self) -> None:
        self.stopping = True
        tasks = [*self._pending, *self._loops]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self.renew()
            except ServiceUnavailable:
                pass  # the store's outage is logged once by its connection; renewed next time
            except Exception:
                log.warning("renewing vendor presence failed", exc_info=True)

    async def renew(self) -> None:
        holders = {vid: s.presence_token for s in list(self._vendors) for vid in s.vendors}
        if holders:
            await self._store.hold(holders, self._ttl)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except ServiceUnavailable:
                pass  # as above: swept next time
            except Exception:
                log.warning("sweeping expired vendors failed", exc_info=True)
            await asyncio.sleep(self._sweep_every)

    async def sweep(self) -> int:
        """Take every expired vendor (any process's) offline; returns how many."""
        total = 0
        while True:
            expired = await self._store.take_expired(MAX_TAKE)
            for start in range(0, len(expired), _CONCURRENCY):
                batch = expired[start : start + _CONCURRENCY]
                results = await asyncio.gather(
                    *(self._on_offline(v) for v in batch), return_exceptions=True
                )
                failed = [v for v, r in zip(batch, results, strict=True) if r is not None]
                if failed:
                    log.warning(
                        "taking %d vendors offline failed (%s); retrying in %gs",
                        len(failed),
                        next(r for r in results if r is not None).__class__.__name__,
                        RETRY_SECONDS,
                    )
                    await self._store.hold(
                        dict.fromkeys(failed, f"{self.node}/retry"), RETRY_SECONDS
                    )
            total += len(expired)
            if len(expired) < MAX_TAKE:
                break
        if total:
            self._on_swept(total)
        return total
