"""Clerk user webhooks: ``POST /v1/webhooks/clerk`` (alias ``POST /webhook/clerk``).

Clerk sends webhooks through svix. A delivery is accepted only when its svix signature over
the raw body verifies with the endpoint's secret and its timestamp is recent; otherwise
``401 INVALID_SIGNATURE`` and nothing changes. A delivery id (``svix-id``) is handled once.

- ``user.created`` / ``user.updated``: the user row for the Clerk user id exists afterwards.
- ``user.deleted``: the Clerk user id is tombstoned (``DeletedIdentities``), then the user,
  their vendors, positions and subscription are deleted and the gateway's identity cache
  forgets them. From then on the user service refuses the id: the user's still valid session
  tokens answer 401, and a late ``user.created`` or ``user.updated`` (svix retries out of
  order) is acknowledged, logged and changes nothing. Clerk never reuses ids.
- Other event types are acknowledged and ignored.
- A signed body that is not a Clerk event (``payloads.py``) is refused with 400.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from svix.webhooks import Webhook, WebhookVerificationError
from venta_core import error_responses
from venta_core.errors import (
    AccountDeleted,
    InvalidSignature,
    ServiceUnavailable,
    UserNotFound,
    ValidationFailed,
)
from venta_core.services.identities import DeletedIdentities
from venta_core.services.protocols import UserService
from venta_core.services.webhooks import WebhookDeliveries, refusals_counted
from venta_core.transports.http.schemas import PublicModel

from venta_clerk.payloads import ClerkEvent, ClerkId, parse_event
from venta_clerk.settings import ClerkSettings

__all__ = ["PROVIDER", "ClerkWebhookHandler", "Deleted", "WebhookAck", "create_router"]

log = logging.getLogger("venta.clerk.webhooks")

PROVIDER = "clerk"
_DELIVERY_ID: TypeAdapter[str] = TypeAdapter(ClerkId)

_ERRORS = error_responses(
    413,
    500,
    descriptions={
        400: "VALIDATION_ERROR: a signed body that is not a Clerk event (not JSON, too deeply "
        "nested, a user event without a valid data.id), or a svix-id that is not a valid id",
        401: "INVALID_SIGNATURE: missing, forged or stale",
        409: "CONFLICT: this svix-id is being handled",
        503: "SERVICE_UNAVAILABLE: no webhook secret set, or the database is down",
    },
)


class WebhookAck(PublicModel):
    received: bool = True
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a ``user.deleted`` delivery deleted: the identity, and the user id if it had one."""

    external_id: str
    user_id: str | None


class ClerkWebhookHandler:
    """Verifies deliveries and applies them through the user service."""

    def __init__(
        self,
        settings: ClerkSettings,
        users: UserService,
        deliveries: WebhookDeliveries,
        identities: DeletedIdentities,
    ) -> None:
        secret = settings.webhook_secret
        self._webhook = Webhook(secret.get_secret_value()) if secret is not None else None
        self._tolerance = settings.webhook_tolerance_seconds
        self._users = users
        self._deliveries = deliveries
        self._identities = identities

    def verify(self, body: bytes, headers: Mapping[str, str]) -> tuple[ClerkEvent, str | None]:
        """The event of a correctly signed, recent delivery, with its Clerk user id for a user
        event. Raises ``InvalidSignature``, then ``ValidationFailed`` for a signed body or
        ``svix-id`` that does not fit."""
        if self._webhook is None:
            raise ServiceUnavailable(
                "Clerk webhooks are not configured (VENTA_CLERK_WEBHOOK_SECRET)"
            )
        svix_headers = {
            name: headers.get(name, "") for name in ("svix-id", "svix-timestamp", "svix-signature")
        }
        try:
            self._webhook.verify(body, svix_headers)
        except (WebhookVerificationError, ValueError) as exc:  # svix raises ValueError on junk
            reason = str(exc) if isinstance(exc, WebhookVerificationError) else "malformed"
            raise InvalidSignature(details={"reason": reason}) from None
        if abs(time.time() - float(svix_headers["svix-timestamp"])) > self._tolerance:
            raise InvalidSignature(details={"reason": "Message timestamp outside tolerance"})
        try:
            _DELIVERY_ID.validate_python(svix_headers["svix-id"])
        except ValidationError:
            raise ValidationFailed(
                "svix-id must be 1 to 255 characters without control characters",
                details={"field": "svix-id"},
            ) from None
        return parse_event(body)

    async def handle(
        self, delivery_id: str, event: ClerkEvent, clerk_id: str | None
    ) -> tuple[bool, Deleted | None]:
        """Apply ``event`` once; ``(False, None)`` for a redelivery."""
        outcome: dict[str, Deleted | None] = {}

        async def apply() -> None:
            outcome["result"] = await self._apply(event.type, clerk_id)

        ran = await self._deliveries.once(PROVIDER, delivery_id, apply)
        return ran, outcome.get("result")

    async def _apply(self, kind: str, clerk_id: str | None) -> Deleted | None:
        """What a deletion deleted (its identity must be forgotten), else ``None``."""
        if clerk_id is None:
            log.info("Clerk event ignored", extra={"event_type": kind[:64]})
            return None
        if kind == "user.deleted":
            return await self._delete(clerk_id)
        try:
            await self._users.ensure_user(clerk_id)
        except AccountDeleted:
            log.info("Clerk %s for a deleted user ignored", kind)
        return None

    async def _delete(self, clerk_id: str) -> Deleted:
        # The tombstone first, even for a user venta never saw: from now on no user can be
        # created for the id, so the one found below (if any) is the last.
        await self._identities.forget(clerk_id)
        user = await self._users.find_by_external_id(clerk_id)
        if user is None:
            return Deleted(clerk_id, None)
        with contextlib.suppress(UserNotFound):  # deleted concurrently
            await self._users.delete_user(user.id)
        return Deleted(clerk_id, user.id)


def create_router(handler: ClerkWebhookHandler) -> APIRouter:
    router = APIRouter(tags=["webhooks"], responses=_ERRORS)

    async def receive(request: Request) -> WebhookAck:
        body = await request.body()
        with refusals_counted(PROVIDER):
            event, clerk_id = handler.verify(body, request.headers)
        ran, deleted = await handler.handle(request.headers["svix-id"], event, clerk_id)
        if deleted is not None:
            cache = getattr(request.app.state, "identity_cache", None)
            if cache is not None:
                cache.discard(deleted.external_id, deleted.user_id)
        return WebhookAck(duplicate=not ran)

    router.add_api_route(
        "/v1/webhooks/clerk",
        receive,
        methods=["POST"],
        summary="Clerk user events (svix-signed)",
        response_model=WebhookAck,
    )
    router.add_api_route(
        "/webhook/clerk",
        receive,
        methods=["POST"],
        summary="Alias of POST /v1/webhooks/clerk",
        response_model=WebhookAck,
        tags=["seed aliases"],
        deprecated=True,
        operation_id="seed_clerk_webhook",
    )
    return router
