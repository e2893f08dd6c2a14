"""Outbox relay: publishes committed outbox rows to the bus in order, then marks them sent.

Rows are only marked after a successful publish, so a crash or bus outage delays events but
never loses them; the envelope id travels as ``Nats-Msg-Id`` so a broker that deduplicates
(JetStream) drops the duplicates a crash between publish and mark can cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from venta_core.events import event_subject
from venta_core.ports.bus import EventBus
from venta_core.store import outbox
from venta_core.store.engine import Database

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)


class OutboxRelay:
    name = "outbox-relay"

    def __init__(
        self, db: Database, bus: EventBus, prefix: str, *, interval: float = 0.2, batch: int = 500
    ) -> None:
        self._db = db
        self._bus = bus
        self._prefix = prefix
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        """Ask for a relay pass now (after a commit) instead of at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.wait_for(self.relay_pending(), timeout=5)
        except Exception:
            log.warning("outbox not fully relayed at shutdown; it resumes at next start")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.relay_pending()
            except Exception:
                log.warning("outbox relay pass failed; retrying", exc_info=True)
                await asyncio.sleep(self._interval)

    async def relay_pending(self) -> int:
        """Publish every pending event, oldest first. Returns how many were published."""
        total = 0
        while True:
            async with self._db.connect() as conn:
                pending = await outbox.pending_events(conn, self._batch)
            if not pending:
                return total
            sent: list[int] = []
            try:
                for seq, envelope in pending:
                    headers = {"Nats-Msg-Id": envelope.id}
                    if envelope.request_id:
                        headers["X-Request-ID"] = envelope.request_id
                    data = envelope.model_dump_json(by_alias=True).encode()
                    await self._bus.publish(
                        event_subject(self._prefix, envelope.type), data, headers
                    )
                    sent.append(seq)
            finally:
                if sent:
                    async with self._db.begin() as conn:
                        await outbox.mark_sent(conn, sent)
                    self.published += len(sent)
                    total += len(sent)
