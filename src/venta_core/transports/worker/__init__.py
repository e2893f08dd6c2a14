"""The worker role: runs every event handler (built-in search sync, plugin handlers) from its
own durable consumer of the event stream.

``EventWorker`` is a component: ``start`` binds one consumer per handler and begins fetching;
``stop`` drains (events being handled get ``worker.drain_timeout_seconds`` to finish; the rest
are handed back for redelivery). Delivery is at least once: handlers are idempotent.
Given the webhook deliveries service, the worker also runs the periodic ``Housekeeping`` (old
webhook delivery ids are deleted). Like every transport, it reaches the database only through
services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from venta_core.events import EventHandler, events_filter
from venta_core.ports.stream import EventStream
from venta_core.settings import WorkerSettings
from venta_core.transports.worker.dispatch import HandlerRunner
from venta_core.transports.worker.housekeeping import Housekeeping
from venta_core.transports.worker.metrics import WorkerMetrics

if TYPE_CHECKING:
    from venta_core.services.webhooks import WebhookDeliveries

__all__ = ["EventWorker", "HandlerRunner", "Housekeeping", "WorkerMetrics"]

log = logging.getLogger(__name__)

STATE_TIMEOUT_SECONDS = 2.0
DRAIN_POLL_SECONDS = 0.02
#: Built-in handlers of earlier releases, whose work another handler does now (``image-cleanup``
#: on ``image.released``): a starting worker deletes their durable consumers, which nothing
#: reads any more (left alone, each would show a growing lag, and keep every event it filters
#: under ``interest`` retention).
RETIRED_HANDLERS = ("image-cleanup-deleted", "image-cleanup-replaced")


class EventWorker:
    name = "worker"

    def __init__(
        self,
        stream: EventStream,
        handlers: Sequence[EventHandler],
        *,
        prefix: str,
        settings: WorkerSettings,
        metrics: WorkerMetrics,
        volatile: bool = False,
        deliveries: WebhookDeliveries | None = None,
    ) -> None:
        """``volatile``: the stream keeps events in this process only (no NATS), so ``stop``
        first handles what is stored, within the drain time, instead of leaving it behind.
        ``deliveries``: purge its old delivery ids (the housekeeping) while the worker runs."""
        self._volatile = volatile
        names = [h.name for h in handlers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"event handlers with the same name: {', '.join(duplicates)}")
        self.settings = settings
        self.metrics = metrics
        self._stream = stream
        self._prefix = prefix
        self.runners = [
            HandlerRunner(
                stream,
                handler,
                prefix=prefix,
                filter_subject=events_filter(prefix, handler.event_types),
                settings=settings,
                metrics=metrics,
            )
            for handler in handlers
        ]
        self._started: list[HandlerRunner] = []
        self.housekeeping = (
            Housekeeping(deliveries, settings, purged=metrics.webhook_claims_purged)
            if deliveries is not None
            else None
        )

    @property
    def handlers(self) -> list[str]:
        return [r.name for r in self.runners]

    async def start(self) -> None:
        await self._retire()
        try:
            for runner in self.runners:
                await runner.start()
                self._started.append(runner)
            if self.housekeeping is not None:
                await self.housekeeping.start()
        except BaseException:
            await self.stop()
            raise
        if self.runners:
            log.info("worker running handlers: %s", ", ".join(self.handlers))

    async def _retire(self) -> None:
        """Delete the consumers of ``RETIRED_HANDLERS`` (unless a handler of this worker has
        taken the name); a failure is logged, not raised: the worker runs without it."""
        for name in RETIRED_HANDLERS:
            if name in self.handlers:
                continue
            durable = f"{self._prefix}-{name}"
            try:
                if await self._stream.delete_consumer(durable, f"{self._prefix}.events.>"):
                    log.info("deleted the consumer %s of a retired handler", durable)
            except Exception as exc:
                log.warning(
                    "could not delete the consumer %s of a retired handler: %s", durable, exc
                )

    async def stop(self) -> None:
        if self.housekeeping is not None:
            await self.housekeeping.stop()
        drain = self.settings.drain_timeout_seconds
        deadline = asyncio.get_running_loop().time() + drain
        if self._volatile:
            with contextlib.suppress(Exception):
                for _ in range(int(drain / DRAIN_POLL_SECONDS) + 1):
                    if not any((await self.lag()).values()):
                        break
                    await asyncio.sleep(DRAIN_POLL_SECONDS)
        started, self._started = self._started, []
        left = max(0.1, deadline - asyncio.get_running_loop().time())
        await asyncio.gather(*(r.stop(left) for r in started), return_exceptions=True)

    async def check(self) -> None:
        stopped = [r.name for r in self._started if not r.running]
        if stopped:
            raise RuntimeError(f"handler loop stopped: {', '.join(stopped)}")

    async def refresh_metrics(self) -> None:
        """Read each consumer's lag into the gauges (before a scrape)."""
        for runner in self._started:
            consumer = runner.consumer
            if consumer is None:
                continue
            with contextlib.suppress(Exception):
                state = await asyncio.wait_for(consumer.state(), STATE_TIMEOUT_SECONDS)
                self.metrics.consumer_pending.labels(runner.name).set(state.pending)
                self.metrics.consumer_ack_pending.labels(runner.name).set(state.ack_pending)

    async def lag(self) -> dict[str, int]:
        """Events not handled yet, per handler (stored and undelivered, or unsettled)."""
        out: dict[str, int] = {}
        for runner in self._started:
            if runner.consumer is not None:
                out[runner.name] = (await runner.consumer.state()).lag
        return out
