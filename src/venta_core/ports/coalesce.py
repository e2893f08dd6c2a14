"""Coalescing of concurrent calls: the work that arrives while one round trip is in flight goes
out together in the next.

A port whose every call costs a round trip (a Redis geo index write) hands its calls to a
``Coalescer``: ``await coalescer.submit(item)`` returns that item's own result. There is no
timer. An idle coalescer lets the caller flush its lone item itself, at once: one round trip,
as without it, and no task in between. While a flush is in flight, the items submitted
meanwhile wait, and the next flush (in a task of the coalescer's) takes them all (up to
``max_batch``). So a batch holds what arrived during one round trip: the round trips per item
fall as the load rises, and no load waits for a batch to fill.

The flush function receives the items in submission order and returns one outcome per item, in
the same order: a result, or an exception instance that fails that item alone. If it raises,
every item of its batch fails with that exception. Items go out in submission order, one flush
at a time, so two items for one key are applied in the order they were submitted.

Backpressure: at most ``max_pending`` items wait or are in flight in batches (besides one
flushed alone); a further ``submit`` waits for room (first come, first served).

Cancellation: a batch is flushed in a task of its own, never in a caller's; only a lone item
is flushed by its caller, so cancelling that caller cancels its own flush alone. A caller
cancelled while its item waits withdraws the item (it is never flushed); one cancelled while its
item is in flight in a batch leaves the flush to finish for the others (the item may have been
applied, as a call cancelled after its request left would be).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer", "Flush"]

T = TypeVar("T")
R = TypeVar("R")

#: Applies a batch of items; returns one outcome per item (a result, or the exception of that
#: item), in order.
Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]

_Waiting = tuple[T, "asyncio.Future[R]"]


class Coalescer(Generic[T, R]):
    """Batches concurrent ``submit`` calls into calls of ``flush`` (see the module docstring)."""

    def __init__(
        self,
        flush: Flush[T, R],
        *,
        max_batch: int = 500,
        max_pending: int = 10_000,
        name: str = "coalescer",
    ) -> None:
        if max_batch < 1 or max_pending < 1:
            raise ValueError("Coalescer: max_batch and max_pending must be at least 1")
        self.name = name
        self._flush = flush
        self._max_batch = max_batch
        self._room = asyncio.Semaphore(max_pending)
        self._queue: deque[_Waiting[T, R]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._alone = False  # a caller is flushing its lone item itself
        #: Flushes run and items flushed (for tests, benchmarks and metrics).
        self.flushes = 0
        self.flushed = 0

    @property
    def waiting(self) -> int:
        """Items queued for the next flush (cancelled ones not yet dropped included)."""
        return len(self._queue)

    async def submit(self, item: T) -> R:
        """Queue ``item`` and return its outcome once a flush has applied it (or raise the
        exception of its item or batch)."""
        if self._task is None and not self._alone:
            return await self._flush_alone(item)
        async with self._room:
            # A flush is in flight: the one that ends it starts the next (see _flush_alone).
            future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            self._queue.append((item, future))
            if self._task is None and not self._alone:  # it ended while we waited for room
                self._task = asyncio.create_task(self._drain(), name=self.name)
            return await future

    async def _flush_alone(self, item: T) -> R:
        """Idle: the caller flushes its item itself; the items submitted meanwhile are flushed
        by a task started when it returns (or fails, or is cancelled)."""
        self._alone = True
        self.flushes += 1
        self.flushed += 1
        try:
            outcomes = await self._flush([item])
        finally:
            self._alone = False
            if self._queue:
                self._task = asyncio.create_task(self._drain(), name=self.name)
        if len(outcomes) != 1:
            raise RuntimeError(f"{self.name}: flush returned {len(outcomes)} outcomes for 1 item")
        outcome = outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def _drain(self) -> None:
        """Flush batches while items wait; the task ends when the queue is empty."""
        batch: list[_Waiting[T, R]] = []
        try:
            while self._queue:
                batch = self._take()
                if batch:
                    await self._run(batch)
                batch = []
        except BaseException:  # cancelled (the loop is closing): nobody is left waiting forever
            for _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue.clear()
            raise
        finally:
            self._task = None

    def _take(self) -> list[_Waiting[T, R]]:
        batch: list[_Waiting[T, R]] = []
        queue = self._queue
        while queue and len(batch) < self._max_batch:
            waiting = queue.popleft()
            if not waiting[1].done():  # done: its caller was cancelled, the item withdrawn
                batch.append(waiting)
        return batch

    async def _run(self, batch: list[_Waiting[T, R]]) -> None:
        self.flushes += 1
        self.flushed += len(batch)
        try:
            outcomes = await self._flush([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"{self.name}: flush returned {len(outcomes)} outcomes for {len(batch)} items"
                )
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled while the item was in flight
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
