"""Periodic clean-up run by the worker role: webhook delivery ids older than
``worker.webhook_retention_days`` are deleted every ``worker.housekeeping_interval_seconds``.

It reaches the database only through the ``WebhookDeliveries`` service it is given.
Every worker replica runs it; no lock is needed, as deleting rows older than a time is
idempotent. A failed pass is logged and the next one comes at the next interval. Permanent
markers (clerk's tombstones) and claims being handled are kept (see
``venta_core.services.webhooks.WebhookDeliveries.purge``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from prometheus_client import Counter

from venta_core.services.webhooks import WebhookDeliveries
from venta_core.settings import WorkerSettings

__all__ = ["Housekeeping"]

log = logging.getLogger(__name__)


class Housekeeping:
    """``start`` runs a first pass at once, then one every interval; ``stop`` cancels."""

    name = "housekeeping"

    def __init__(
        self,
        deliveries: WebhookDeliveries,
        settings: WorkerSettings,
        *,
        purged: Counter | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._retention = timedelta(days=settings.webhook_retention_days)
        self._interval = settings.housekeeping_interval_seconds
        self._purged = purged
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.failed_passes = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():  # a cancellation can be lost inside a database call
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()

    async def run_once(self) -> int:
        """One pass: delete the expired webhook claims; the number deleted."""
        purged = await self._deliveries.purge(self._retention)
        self.passes += 1
        if self._purged is not None:
            self._purged.inc(purged)
        if purged:
            log.info("purged %d webhook delivery ids", purged, extra={"purged": purged})
        else:
            log.debug("no webhook delivery ids to purge")
        return purged

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                self.failed_passes += 1
                log.exception("housekeeping pass failed; next one in %.0f s", self._interval)
            await asyncio.sleep(self._interval)
