"""Webhook deliveries: idempotency by delivery id and ordering by event time, for plugins that
receive provider webhooks (venta-clerk, venta-revenuecat).

A plugin builds one from the application's database::

    deliveries = WebhookDeliveries(app.database)
    handled = await deliveries.once("clerk", svix_id, lambda: apply(event))

``once`` claims the delivery id, runs the handler, and marks the claim completed when the
handler returns. Every delivery id is then handled to completion at least once, and while a
handler runs no other process runs it for the same id:

- a failed handler releases the claim and its error reaches the provider (5xx), which retries;
- a redelivery of a completed id is skipped (``once`` returns ``False``);
- a redelivery while the claim is being handled raises ``DeliveryInProgress`` (409): the
  provider retries later;
- a claim not completed within ``CLAIM_LEASE`` was abandoned (its process was killed mid-way):
  the next redelivery takes it over and runs the handler again. Handlers must therefore be
  idempotent: an abandoned handler may have applied part of its effect.

Every delivery is counted in ``venta_webhook_deliveries_total{provider, outcome}``: ``once``
counts ``processed``, ``duplicate``, ``in_progress`` and ``failed``; a plugin's route counts the
deliveries it refuses before that (bad signature, credentials or body: ``rejected``) by checking
them inside ``refusals_counted(provider)``.

Provider names with a dot (``myprovider.blocked``) hold permanent markers recorded with
``claim``; ``purge`` never deletes them (see docs/plugins.md, "Webhooks"). A deleted user's
identity is not such a marker: ``venta_core.services.identities`` keeps those.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from venta_core.errors import Conflict, VentaError
from venta_core.observability.client_metrics import CLIENT_METRICS
from venta_core.store import webhooks as rows
from venta_core.store.engine import Database

__all__ = ["CLAIM_LEASE", "DeliveryInProgress", "WebhookDeliveries", "refusals_counted"]

log = logging.getLogger(__name__)

#: How long a claim may stay not completed before a redelivery takes it over. Longer than any
#: handler may take: providers give up on a request long before (svix after 15 s, RevenueCat
#: after 60 s), so a claim this old belongs to a process that died.
CLAIM_LEASE = timedelta(minutes=5)

#: Tries of ``once`` to settle a claim that is released between its statements.
_CLAIM_ATTEMPTS = 3


class DeliveryInProgress(Conflict):
    """The delivery id is being handled right now (another request or process holds a claim
    younger than the lease): ``409 CONFLICT``.

    409 rather than 503: nothing is unavailable, and a 4xx is not logged as a server error.
    Clerk (svix) and RevenueCat retry every answer that is not 2xx, on their own schedule, so
    the retry finds the claim completed (skipped) or abandoned (taken over).
    """

    default_message = "This delivery is being handled; retry later"

    def __init__(self, provider: str, delivery_id: str) -> None:
        super().__init__(details={"provider": provider, "deliveryId": delivery_id})


@contextmanager
def refusals_counted(provider: str) -> Iterator[None]:
    """Around a route's checks of a delivery (signature, credentials, body): a ``VentaError``
    raised inside counts the delivery ``rejected`` (a 4xx answer) or ``failed`` (5xx, such as
    a webhook secret not configured)."""
    try:
        yield
    except VentaError as exc:
        CLIENT_METRICS.webhook(provider, "rejected" if exc.http_status < 500 else "failed")
        raise


class WebhookDeliveries:
    def __init__(self, db: Database, *, lease: timedelta = CLAIM_LEASE) -> None:
        if lease <= timedelta(0):
            raise ValueError("the claim lease must be positive")
        self._db = db
        self.lease = lease

    async def claim(self, provider: str, delivery_id: str) -> bool:
        """Record the delivery (or a permanent marker) as handled; ``False`` when it was
        recorded already, handled or being handled.

        The record counts as completed at once: it is never taken over. ``once`` is the way to
        run a handler with the guarantees of this module.
        """
        async with self._db.begin() as conn:
            return await rows.claim(conn, provider, delivery_id)

    async def release(self, provider: str, delivery_id: str) -> None:
        """Forget a claim so the provider's retry of this delivery is handled again."""
        async with self._db.begin() as conn:
            await rows.release(conn, provider, delivery_id)

    async def seen(self, provider: str, delivery_id: str) -> bool:
        """``True`` when the delivery (or marker) is recorded, handled or being handled."""
        async with self._db.connect() as conn:
            return await rows.is_claimed(conn, provider, delivery_id)

    async def once(
        self, provider: str, delivery_id: str, handler: Callable[[], Awaitable[Any]]
    ) -> bool:
        """Run ``handler`` unless this delivery was handled; ``True`` when it ran.

        Raises ``DeliveryInProgress`` while another call handles the same id (within the lease).
        The handler's exception propagates after the claim is released. If marking the claim
        completed fails, that error propagates too: the provider retries, and the redelivery
        runs the handler again once the lease is over.
        """
        try:
            ran = await self._once(provider, delivery_id, handler)
        except DeliveryInProgress:
            CLIENT_METRICS.webhook(provider, "in_progress")
            raise
        except Exception:
            CLIENT_METRICS.webhook(provider, "failed")
            raise
        CLIENT_METRICS.webhook(provider, "processed" if ran else "duplicate")
        return ran

    async def _once(
        self, provider: str, delivery_id: str, handler: Callable[[], Awaitable[Any]]
    ) -> bool:
        claimed_at = await self._claim_for_handling(provider, delivery_id)
        if claimed_at is None:
            log.info(
                "webhook delivery already handled",
                extra={"provider": provider, "delivery_id": delivery_id},
            )
            return False
        try:
            await handler()
        except BaseException:
            try:
                async with self._db.begin() as conn:
                    await rows.release(conn, provider, delivery_id, claimed_at=claimed_at)
            except Exception:
                log.exception("could not release webhook claim %s/%s", provider, delivery_id)
            raise
        async with self._db.begin() as conn:
            await rows.complete(conn, provider, delivery_id)
        return True

    async def _claim_for_handling(self, provider: str, delivery_id: str) -> datetime | None:
        """The time of the claim this call holds; ``None`` when the delivery was completed.

        Raises ``DeliveryInProgress`` when a claim younger than the lease is not completed.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            now = datetime.now(UTC)
            async with self._db.begin() as conn:
                if await rows.claim(conn, provider, delivery_id, at=now, completed=False):
                    return now
                stale_before = now - self.lease
                if await rows.take_over(
                    conn, provider, delivery_id, stale_before=stale_before, at=now
                ):
                    log.warning(
                        "taking over an abandoned webhook claim",
                        extra={"provider": provider, "delivery_id": delivery_id},
                    )
                    return now
                state = await rows.claim_state(conn, provider, delivery_id)
            if state == "completed":
                return None
            if state == "pending":
                raise DeliveryInProgress(provider, delivery_id)
            # Released (a failed handler) between the statements above: claim it afresh.
        raise DeliveryInProgress(provider, delivery_id)

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
        """Delete delivery claims received more than ``older_than`` ago; the number deleted.

        Keep claims longer than the providers retry (a week covers Clerk's and RevenueCat's
        schedules): a redelivery of a purged id is handled again. Permanent markers (provider
        names with a dot) are never deleted, nor a claim being handled (younger than the
        lease).
        """
        now = datetime.now(UTC)
        before = now - older_than
        async with self._db.begin() as conn:
            return await rows.purge_claims(
                conn, before, abandoned_before=min(before, now - self.lease)
            )
