"""``POST /v1/webhooks/revenuecat`` (seed alias ``POST /webhook/subscription``).

RevenueCat does not sign webhooks: it sends the Authorization header value configured in its
dashboard, compared here in constant time. It retries a delivery that does not get a 200.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from venta_core import error_responses
from venta_core.services.webhooks import refusals_counted
from venta_core.transports.http.schemas import PublicModel

from venta_revenuecat.handler import PROVIDER, RevenueCatHandler

__all__ = ["WebhookAck", "create_router"]

_ERRORS = error_responses(
    413,
    500,
    descriptions={
        400: "VALIDATION_ERROR: not a RevenueCat event",
        401: "INVALID_SIGNATURE: wrong Authorization",
        404: "USER_NOT_FOUND: create_users is off",
        409: "CONFLICT: this event id is being handled",
        503: "SERVICE_UNAVAILABLE: no secret configured, or the database is down",
    },
)


class WebhookAck(PublicModel):
    received: bool = True
    duplicate: bool = False


def create_router(handler: RevenueCatHandler) -> APIRouter:
    router = APIRouter(tags=["webhooks"], responses=_ERRORS)

    async def receive(request: Request) -> WebhookAck:
        with refusals_counted(PROVIDER):
            handler.authorize(request.headers.get("authorization"))
            event = handler.parse(await request.body())
        ran = await handler.handle(event)
        return WebhookAck(duplicate=not ran)

    router.add_api_route(
        "/v1/webhooks/revenuecat",
        receive,
        methods=["POST"],
        response_model=WebhookAck,
        summary="RevenueCat subscription events",
    )
    router.add_api_route(
        "/webhook/subscription",
        receive,
        methods=["POST"],
        response_model=WebhookAck,
        summary="Alias of POST /v1/webhooks/revenuecat",
        tags=["seed aliases"],
        deprecated=True,
        operation_id="seed_revenuecat_webhook",
    )
    return router
