"""Clerk user webhooks: ``POST /v1/webhooks/clerk`` (alias ``POST /webhook/clerk``).

Clerk sends webhooks through svix. A delivery is accepted only when its svix signature over
the raw body verifies with the endpoint's secret and its timestamp is recent; otherwise
``401 INVALID_SIGNATURE`` and nothing changes. A delivery id (``svix-id``) is handled once.

- ``user.created`` / ``user.updated``: the user row for the Clerk user id exists afterwards.
- ``user.deleted``: the user, their vendors, positions and subscription are deleted, the
  gateway's identity cache forgets them, and a tombstone keeps a late ``user.created`` or
  ``user.updated`` (svix retries out of order) from bringing them back. Clerk never reuses ids.
- Other event types are acknowledged and ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from svix.webhooks import Webhook, WebhookVerificationError
from venta_core.errors import InvalidSignature, ServiceUnavailable, UserNotFound, ValidationFailed
from venta_core.services.protocols import UserService
from venta_core.services.webhooks import WebhookDeliveries
from venta_core.transports.http.schemas import ErrorResponse, PublicModel

from venta_clerk.settings import ClerkSettings

__all__ = ["PROVIDER", "ClerkWebhookHandler", "WebhookAck", "create_router"]

log = logging.getLogger("venta.clerk.webhooks")

PROVIDER = "clerk"
#: processed_webhooks "provider" of deletion tombstones (delivery id = the Clerk user id).
TOMBSTONES = "clerk.deleted"
USER_EVENTS = frozenset({"user.created", "user.updated", "user.deleted"})

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "VALIDATION_ERROR: a signed body that is not JSON",
    },
    401: {"model": ErrorResponse, "description": "INVALID_SIGNATURE: missing, forged or stale"},
    409: {"model": ErrorResponse, "description": "CONFLICT: this svix-id is being handled"},
    503: {"model": ErrorResponse, "description": "SERVICE_UNAVAILABLE: no webhook secret set"},
}


class WebhookAck(PublicModel):
    received: bool = True
    duplicate: bool = False


class ClerkWebhookHandler:
    """Verifies deliveries and applies them through the user service."""

    def __init__(
        self, settings: ClerkSettings, users: UserService, deliveries: WebhookDeliveries
    ) -> None:
        secret = settings.webhook_secret
        self._webhook = Webhook(secret.get_secret_value()) if secret is not None else None
        self._tolerance = settings.webhook_tolerance_seconds
        self._users = users
        self._deliveries = deliveries

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """The event of a correctly signed, recent delivery; raises ``InvalidSignature``."""
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
            event = json.loads(body)
        except ValueError:
            raise ValidationFailed("The webhook body is not JSON") from None
        if not isinstance(event, dict):
            raise ValidationFailed("The webhook body is not a JSON object")
        return event

    async def handle(self, delivery_id: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """Apply ``event`` once; ``(False, None)`` for a redelivery."""
        outcome: dict[str, Any] = {}

        async def apply() -> None:
            outcome["result"] = await self._apply(event)

        ran = await self._deliveries.once(PROVIDER, delivery_id, apply)
        return ran, outcome.get("result")

    async def _apply(self, event: dict[str, Any]) -> str | None:
        """The Clerk user id whose identity must be forgotten (deletions), else ``None``."""
        kind = event.get("type")
        data = event.get("data")
        clerk_id = data.get("id") if isinstance(data, dict) else None
        if kind not in USER_EVENTS or not isinstance(clerk_id, str) or not clerk_id:
            log.info("Clerk event ignored", extra={"event_type": str(kind)[:64]})
            return None
        if kind == "user.deleted":
            await self._delete(clerk_id)
            return clerk_id
        if await self._deliveries.seen(TOMBSTONES, clerk_id):
            log.info("Clerk %s for a deleted user ignored", kind)
            return None
        await self._users.ensure_user(clerk_id)
        return None

    async def _delete(self, clerk_id: str) -> None:
        await self._deliveries.claim(TOMBSTONES, clerk_id)
        user = await self._users.find_by_external_id(clerk_id)
        if user is None:
            return
        with contextlib.suppress(UserNotFound):  # deleted concurrently
            await self._users.delete_user(user.id)


def create_router(handler: ClerkWebhookHandler) -> APIRouter:
    router = APIRouter(tags=["webhooks"], responses=_ERRORS)

    async def receive(request: Request) -> WebhookAck:
        body = await request.body()
        event = handler.verify(body, request.headers)
        ran, forget = await handler.handle(request.headers["svix-id"], event)
        if forget is not None:
            cache = getattr(request.app.state, "identity_cache", None)
            if cache is not None:
                cache.discard(forget)
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
