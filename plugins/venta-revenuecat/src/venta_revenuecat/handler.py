"""Applying RevenueCat events: who the user is, whether the event is newer than what was
applied, and the subscription status it sets (see ``events.py`` for the mapping).

An event that names a deleted account (a tombstoned external id, see
``venta_core.services.identities``) changes nothing: it is acknowledged, so RevenueCat stops
retrying, and logged. Such an account is never created again by a purchase."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Iterable
from weakref import WeakValueDictionary

from pydantic import ValidationError
from venta_core.domain import Subscription, SubscriptionStatus, SubscriptionUpdate, User
from venta_core.errors import (
    AccountDeleted,
    InvalidSignature,
    ServiceUnavailable,
    UserNotFound,
    ValidationFailed,
)
from venta_core.services.identities import DeletedIdentities
from venta_core.services.protocols import UserService
from venta_core.services.webhooks import WebhookDeliveries

from venta_revenuecat.events import RevenueCatEvent, RevenueCatWebhook, known_ids, status_for
from venta_revenuecat.settings import RevenueCatSettings

__all__ = ["PROVIDER", "RevenueCatHandler"]

log = logging.getLogger("venta.revenuecat")

PROVIDER = "revenuecat"
_MOVABLE = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED, SubscriptionStatus.BILLING_ISSUE}
)


class RevenueCatHandler:
    def __init__(
        self,
        settings: RevenueCatSettings,
        users: UserService,
        deliveries: WebhookDeliveries,
        identities: DeletedIdentities,
    ) -> None:
        self.settings = settings
        self._users = users
        self._deliveries = deliveries
        self._identities = identities
        # Serialises the events of one user in this process (ordering check, then apply).
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def authorize(self, header: str | None) -> None:
        """Constant-time comparison with the configured value, and during a rotation with the
        previous one; ``Bearer <value>`` is also accepted, whichever of the two was configured
        in RevenueCat."""
        if self.settings.webhook_auth is None:
            raise ServiceUnavailable(
                "RevenueCat webhooks are not configured (VENTA_REVENUECAT_WEBHOOK_AUTH)"
            )
        accepted = [self.settings.webhook_auth, self.settings.webhook_auth_previous]
        given = (header or "").encode()
        matches = [  # every value compared, so the time taken does not tell which matched
            hmac.compare_digest(given, prefix + value.get_secret_value().encode())
            for value in accepted
            if value is not None
            for prefix in (b"", b"Bearer ")
        ]
        if not any(matches):
            raise InvalidSignature("Webhook authorization failed")

    @staticmethod
    def parse(body: bytes) -> RevenueCatEvent:
        try:
            return RevenueCatWebhook.model_validate_json(body).event
        except ValidationError as exc:
            fields = [".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()][:5]
            errors = [{"field": f, "message": "invalid or missing"} for f in fields]
            raise ValidationFailed("Not a RevenueCat event", details={"errors": errors}) from None

    async def handle(self, event: RevenueCatEvent) -> bool:
        """Apply ``event`` once; ``False`` for a redelivery of an event id."""
        return await self._deliveries.once(PROVIDER, event.id, lambda: self._apply(event))

    async def _apply(self, event: RevenueCatEvent) -> None:
        if event.type == "TEST":
            log.info("RevenueCat test event received", extra={"event_id": event.id})
            return
        if event.environment == "SANDBOX" and not self.settings.accept_sandbox:
            log.info("RevenueCat sandbox event ignored", extra={"event_id": event.id})
            return
        if event.type == "TRANSFER":
            await self._transfer(event)
            return
        status = status_for(event)
        wanted = set(self.settings.entitlement_ids)
        if status is None or (wanted and not wanted & event.entitlements):
            log.info("RevenueCat event ignored: %s", event.type, extra={"event_id": event.id})
            return
        try:
            user = await self._resolve(event.user_ids(self.settings.user_attribute))
        except AccountDeleted:
            log.info("RevenueCat event for a deleted user ignored", extra={"event_id": event.id})
            return
        if user is None:
            log.warning("RevenueCat event names no known user", extra={"event_id": event.id})
            return
        update = SubscriptionUpdate(
            status=status,
            provider=PROVIDER,
            product_id=event.product_id,
            expires_at=event.expires_at,
            event_id=event.id,
        )
        await self._set(user.id, event, update)

    async def _resolve(self, external_ids: list[str], *, create: bool = True) -> User | None:
        """The first candidate that is a user; else, when allowed, a new user for the first.
        Raises ``AccountDeleted`` when a candidate tried is a deleted account."""
        for external_id in external_ids:
            if await self._identities.is_deleted(external_id):
                raise AccountDeleted()
            user = await self._users.find_by_external_id(external_id)
            if user is not None:
                return user
        if not external_ids or not create:
            return None
        if not self.settings.create_users:
            raise UserNotFound(external_ids[0])
        return await self._users.ensure_user(external_ids[0])

    async def _set(self, user_id: str, event: RevenueCatEvent, update: SubscriptionUpdate) -> None:
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            at = event.event_timestamp_ms
            info = {"lastEventId": event.id, "lastEventType": event.type}
            if at is not None and not await self._deliveries.newer(PROVIDER, user_id, at, info):
                log.info(
                    "RevenueCat event older than the state applied; ignored",
                    extra={"event_id": event.id, "event_type": event.type},
                )
                return
            await self._users.set_subscription(user_id, update)

    async def _transfer(self, event: RevenueCatEvent) -> None:
        """The ``transferred_to`` users get the subscription the ``transferred_from`` users
        had; those lose it (``expired``)."""
        sources: list[User] = []
        for external_id in known_ids(event.transferred_from):
            with contextlib.suppress(AccountDeleted):  # a deleted account has nothing to give
                if (source := await self._resolve([external_id], create=False)) is not None:
                    sources.append(source)
        moved = _movable(s.subscription for s in sources)
        targets: set[str] = set()
        for external_id in known_ids(event.transferred_to):
            try:
                target = await self._resolve([external_id], create=moved is not None)
            except AccountDeleted:
                log.info(
                    "RevenueCat transfer to a deleted user ignored", extra={"event_id": event.id}
                )
                continue
            if target is None or moved is None:
                continue
            targets.add(target.id)
            update = SubscriptionUpdate(
                status=moved.status,
                provider=PROVIDER,
                product_id=moved.product_id,
                expires_at=moved.expires_at,
                event_id=event.id,
            )
            await self._set(target.id, event, update)
        for source in sources:
            if source.id in targets:
                continue
            update = SubscriptionUpdate(
                status=SubscriptionStatus.EXPIRED,
                provider=PROVIDER,
                product_id=source.subscription.product_id,
                event_id=event.id,
            )
            await self._set(source.id, event, update)


def _movable(subscriptions: Iterable[Subscription]) -> Subscription | None:
    """The subscription a transfer moves: the first source's that RevenueCat still bills."""
    for subscription in subscriptions:
        if subscription.provider == PROVIDER and subscription.status in _MOVABLE:
            return subscription
    return None
