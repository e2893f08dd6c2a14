"""RevenueCat events whose fields do not fit: 400 VALIDATION_ERROR and nothing changes, never a
500. NUL and over-long ids break only on PostgreSQL, so every case runs on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.domain import SubscriptionStatus
from venta_core.store.tables import outbox, processed_webhooks, user_subscriptions, users

from revenuecat_samples import AUTH, event_body
from venta_revenuecat.events import MAX_EPOCH_MS

URL = "/v1/webhooks/revenuecat"
ALICE = "user_2alice0000000000000000000"
LONG = "x" * 256

pytestmark = pytest.mark.usefixtures("database")


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    return await client.post(URL, content=body, headers=headers)


async def counts(app: Venta) -> tuple[int, ...]:
    found = []
    async with app.database.connect() as conn:
        for table in (users, user_subscriptions, outbox, processed_webhooks):
            query = sa.select(sa.func.count()).select_from(table)
            found.append(int((await conn.execute(query)).scalar_one()))
    return tuple(found)


def fields_refused(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["message"]) == ("VALIDATION_ERROR", "Not a RevenueCat event")
    return [e["field"] for e in error["details"]["errors"]]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"app_user_id": "user_\u0000nul"}, "event.app_user_id"),
        ({"id": "evt_\u0000nul"}, "event.id"),
        ({"original_app_user_id": "user_\u0000nul"}, "event.original_app_user_id"),
        ({"aliases": ["user_\u0000nul"]}, "event.aliases.0"),
        ({"product_id": "pro\u0000"}, "event.product_id"),
        ({"type": "RENEWAL\u0000"}, "event.type"),
        ({"app_user_id": LONG}, "event.app_user_id"),
        ({"id": LONG}, "event.id"),
        ({"aliases": [LONG]}, "event.aliases.0"),
        ({"product_id": LONG}, "event.product_id"),
        ({"transferred_to": [LONG]}, "event.transferred_to.0"),
        ({"expiration_at_ms": MAX_EPOCH_MS + 1}, "event.expiration_at_ms"),
        ({"expiration_at_ms": 10**30}, "event.expiration_at_ms"),
        ({"expiration_at_ms": -1}, "event.expiration_at_ms"),
        ({"expiration_at_ms": 1.5e300}, "event.expiration_at_ms"),
        ({"event_timestamp_ms": 10**19}, "event.event_timestamp_ms"),
        ({"event_timestamp_ms": -5}, "event.event_timestamp_ms"),
    ],
    ids=[
        "nul-app_user_id",
        "nul-id",
        "nul-original_app_user_id",
        "nul-alias",
        "nul-product_id",
        "nul-type",
        "256-app_user_id",
        "256-id",
        "256-alias",
        "256-product_id",
        "256-transferred_to",
        "expiration-after-9999",
        "expiration-huge",
        "expiration-negative",
        "expiration-float-huge",
        "event-time-huge",
        "event-time-negative",
    ],
)
async def test_fields_that_do_not_fit_are_refused(app_client, fields: dict[str, Any], field: str):
    app, client = app_client
    before = await counts(app)

    response = await post(client, event_body("INITIAL_PURCHASE", user=ALICE, **fields))

    assert fields_refused(response) == [field]
    assert await counts(app) == before


async def test_the_last_millisecond_of_9999_is_an_expiry(app_client):
    app, client = app_client

    response = await post(client, event_body("INITIAL_PURCHASE", expires_ms=MAX_EPOCH_MS))

    assert response.status_code == 200, response.text
    user = await app.users.find_by_external_id(ALICE)
    assert user is not None
    assert user.subscription.expires_at == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["user_\u0000nul", LONG, "", 42, {"nested": "x"}],
    ids=["nul", "256", "empty", "number", "object"],
)
async def test_an_unusable_user_attribute_is_passed_over(app_client, value: Any):
    """The attribute is set by the app, not by RevenueCat: a bad value must not cost the
    event; the next candidate (``app_user_id``) names the user."""
    app, client = app_client
    attributes = {"clerkUserId": {"value": value, "updated_at_ms": 1}}

    response = await post(
        client, event_body("INITIAL_PURCHASE", user=ALICE, subscriber_attributes=attributes)
    )

    assert response.status_code == 200, response.text
    assert (await counts(app))[0] == 1
    user = await app.users.find_by_external_id(ALICE)
    assert user is not None and user.subscription.status is SubscriptionStatus.ACTIVE
