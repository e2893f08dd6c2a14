"""Webhook deliveries: idempotency by delivery id and ordering by event time, for plugins that
receive provider webhooks (venta-clerk, venta-revenuecat).

A plugin builds one from the application's database::

    deliveries = WebhookDeliveries(app.database)
    handled = await deliveries.once("clerk", svix_id, lambda: apply(event))

``once`` claims the delivery id, runs the handler and keeps the claim only when the handler
succeeds. A failed handler releases the claim and its error reaches the provider (5xx), which
retries; a redelivery of a handled id is skipped. Handlers should still be idempotent: a
process killed between the claim and the end of the handler leaves a claim without its effect
(see docs/plugins.md, "Webhooks").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from venta_core.store import webhooks as rows
from venta_core.store.engine import Database

__all__ = ["WebhookDeliveries"]

log = logging.getLogger(__name__)


class WebhookDeliveries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, provider: str, delivery_id: str) -> bool:
        """Record the delivery; ``False`` when it was handled (or is being handled) already."""
        async with self._db.begin() as conn:
            return await rows.claim(conn, provider, delivery_id)

    async def release(self, provider: str, delivery_id: str) -> None:
        """Forget a claim so the provider's retry of this delivery is handled again."""
        async with self._db.begin() as conn:
            await rows.release(conn, provider, delivery_id)

    async def seen(self, provider: str, delivery_id: str) -> bool:
        async with self._db.connect() as conn:
            return await rows.is_claimed(conn, provider, delivery_id)

    async def once(
        self, provider: str, delivery_id: str, handler: Callable[[], Awaitable[Any]]
    ) -> bool:
        """Run ``handler`` unless this delivery was handled; ``True`` when it ran.

        The handler's exception propagates after the claim is released.
        """
        if not await self.claim(provider, delivery_id):
            log.info(
                "webhook delivery already handled",
                extra={"provider": provider, "delivery_id": delivery_id},
            )
            return False
        try:
            await handler()
        except BaseException:
            try:
                await self.release(provider, delivery_id)
            except Exception:
                log.exception("could not release webhook claim %s/%s", provider, delivery_id)
            raise
        return True

    async def newer(
        self,
        provider: str,
        user_id: str,
        occurred_at_ms: int,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """``True`` (and recorded) when no later event of ``provider`` was applied to the user;
        ``False`` for an event older than one already applied, which must be skipped."""
        async with self._db.begin() as conn:
            return await rows.advance_event_time(conn, provider, user_id, occurred_at_ms, data)

    async def purge(self, older_than: timedelta) -> int:
        """Delete claims older than ``older_than`` (keep longer than the providers retry:
        a week covers Clerk's and RevenueCat's schedules); the number deleted."""
        async with self._db.begin() as conn:
            return await rows.purge_claims(conn, datetime.now(UTC) - older_than)
