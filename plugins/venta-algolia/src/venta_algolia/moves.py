"""The ``algolia-geoloc`` handler: ``vendor.moved`` events keep each record's ``_geoloc``
current (``AlgoliaSearchIndex.move``).

The worker hands a handler several events at once (``VENTA_WORKER__CONCURRENCY``). Their
positions are written together: one ``getObjects`` and one ``batch`` for the events handled
within ``LINGER_SECONDS`` of each other, instead of two calls per event. When the calls fail,
every event of the batch raises, and the worker retries each.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import ValidationError
from venta_core.events import EventEnvelope, EventHandler, PoisonEvent, VendorMovedData

if TYPE_CHECKING:
    from venta_algolia.index import AlgoliaSearchIndex

__all__ = ["GEOLOC_HANDLER", "LINGER_SECONDS", "MAX_BATCH", "MoveBatcher", "geoloc_handler"]

#: The handler's name, hence its durable consumer's: keep it.
GEOLOC_HANDLER = "algolia-geoloc"
#: How long the first event of a batch waits for others.
LINGER_SECONDS = 0.02
#: Most events per batch (``getObjects`` reads at most 1000 records).
MAX_BATCH = 1000


class MoveBatcher:
    """Collects positions for ``index.move``; ``submit`` returns once its batch is written."""

    def __init__(
        self,
        index: AlgoliaSearchIndex,
        *,
        linger: float = LINGER_SECONDS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._index = index
        self._linger = linger
        self._max_batch = max_batch
        self._waiting: list[tuple[VendorMovedData, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()  # referenced until done
        self.batches = 0

    async def submit(self, position: VendorMovedData) -> None:
        """Raises what ``index.move`` raised for the batch (``AlgoliaUnavailable``)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((position, done))
        if len(self._waiting) >= self._max_batch:
            self._send()
        elif self._timer is None:
            self._timer = loop.call_later(self._linger, self._send)
        await done  # a cancelled handler cancels it: its result is then not set

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.create_task(self._write(batch), name=GEOLOC_HANDLER)
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write(self, batch: list[tuple[VendorMovedData, asyncio.Future[None]]]) -> None:
        self.batches += 1
        try:
            await self._index.move([position for position, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


def geoloc_handler(index: AlgoliaSearchIndex) -> EventHandler:
    """The handler writing ``vendor.moved`` positions to ``index``."""
    batcher = MoveBatcher(index)

    async def handle(envelope: EventEnvelope) -> None:
        try:
            position = VendorMovedData.model_validate(envelope.data)
        except ValidationError as exc:
            raise PoisonEvent(f"vendor.moved without a position: {exc.errors()[0]}") from None
        await batcher.submit(position)

    return EventHandler(GEOLOC_HANDLER, {"vendor.moved"}, handle)
