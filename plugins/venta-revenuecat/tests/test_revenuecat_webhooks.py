"""RevenueCat webhooks with bodies as RevenueCat sends them: authorization, idempotency by event
id, ordering by event time, user lookup, and the status each event type sets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.domain import SubscriptionStatus
from venta_core.store.tables import outbox, user_subscriptions, users

from revenuecat_samples import (
    AUTH,
    DAY_MS,
    event_body,
    make_rc_settings,
    sample_test_event,
    transfer_body,
)

URL = "/v1/webhooks/revenuecat"
ALICE = "user_2alice0000000000000000000"
BOB = "user_2bob000000000000000000000"


def now_ms() -> int:
    return int(time.time() * 1000)


async def post(
    client: httpx.AsyncClient, body: bytes, auth: str | None = AUTH, url: str = URL
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    return await client.post(url, content=body, headers=headers)


async def status_of(app: Venta, external_id: str) -> SubscriptionStatus | None:
    user = await app.users.find_by_external_id(external_id)
    return None if user is None else user.subscription.status


async def snapshot(app: Venta) -> tuple[Any, ...]:
    async with app.database.connect() as conn:
        subs = (await conn.execute(sa.select(user_subscriptions).order_by("user_id"))).all()
        n_users = (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar()
        n_events = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    return (tuple(tuple(r) for r in subs), n_users, n_events)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.usefixtures("database")
async def test_initial_purchase_activates_the_subscription_once(app_client):
    app, client = app_client
    expires = now_ms() + 30 * DAY_MS
    body = event_body("INITIAL_PURCHASE", user=ALICE, expires_ms=expires)

    first = await post(client, body)
    after = await snapshot(app)
    again = await post(client, body)

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    assert await snapshot(app) == after
    user = await app.users.find_by_external_id(ALICE)
    assert user is not None
    assert user.subscription.status is SubscriptionStatus.ACTIVE
    assert user.subscription.provider == "revenuecat"
    assert user.subscription.product_id == "venta_pro_monthly"
    assert user.subscription.expires_at is not None
    assert int(user.subscription.expires_at.timestamp() * 1000) == expires


@pytest.mark.usefixtures("database")
async def test_concurrent_redeliveries_apply_once(app_client):
    app, client = app_client
    body = event_body("INITIAL_PURCHASE", user=ALICE)
    await app.users.ensure_user(ALICE)

    responses = await asyncio.gather(*(post(client, body) for _ in range(5)))

    # One copy applies the event. The others arrive while it is being applied (409 CONFLICT:
    # RevenueCat retries later) or after it was (200 duplicate).
    applied = [r for r in responses if r.status_code == 200 and not r.json()["duplicate"]]
    assert len(applied) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "CONFLICT"
        else:
            assert response.status_code == 200, response.text
    retries = await asyncio.gather(*(post(client, body) for _ in range(5)))
    assert [r.json() for r in retries] == [{"received": True, "duplicate": True}] * 5
    async with app.database.connect() as conn:
        kinds = (await conn.execute(sa.select(outbox.c.type))).scalars().all()
    assert kinds.count("subscription.updated") == 1


async def test_the_lifecycle_of_a_subscription(app_client):
    app, client = app_client
    t = now_ms() - 10_000
    steps = [
        ("INITIAL_PURCHASE", SubscriptionStatus.ACTIVE),
        ("CANCELLATION", SubscriptionStatus.CANCELLED),
        ("UNCANCELLATION", SubscriptionStatus.ACTIVE),
        ("BILLING_ISSUE", SubscriptionStatus.BILLING_ISSUE),
        ("RENEWAL", SubscriptionStatus.ACTIVE),
        ("SUBSCRIPTION_PAUSED", SubscriptionStatus.CANCELLED),
        ("EXPIRATION", SubscriptionStatus.EXPIRED),
    ]
    for i, (kind, expected) in enumerate(steps):
        response = await post(client, event_body(kind, user=ALICE, at_ms=t + i))
        assert response.status_code == 200, (kind, response.text)
        assert await status_of(app, ALICE) is expected, kind


@pytest.mark.usefixtures("database")
async def test_an_older_event_does_not_overwrite_newer_state(app_client):
    app, client = app_client
    t = now_ms()
    await post(client, event_body("INITIAL_PURCHASE", user=ALICE, at_ms=t - 60_000))
    await post(client, event_body("RENEWAL", user=ALICE, at_ms=t))
    before = await snapshot(app)

    late = await post(client, event_body("EXPIRATION", user=ALICE, at_ms=t - 30_000))

    assert late.status_code == 200
    assert await snapshot(app) == before
    assert await status_of(app, ALICE) is SubscriptionStatus.ACTIVE


async def test_a_refund_cancellation_expires_at_once(app_client):
    app, client = app_client
    t = now_ms()
    await post(client, event_body("INITIAL_PURCHASE", user=ALICE, at_ms=t - 1000))

    body = event_body(
        "CANCELLATION", user=ALICE, at_ms=t, expires_ms=t, cancel_reason="CUSTOMER_SUPPORT"
    )
    await post(client, body)

    assert await status_of(app, ALICE) is SubscriptionStatus.EXPIRED


async def test_the_user_is_found_by_subscriber_attribute_or_alias(app_client):
    app, client = app_client
    await app.users.ensure_user(ALICE)
    await app.users.ensure_user(BOB)
    anonymous = "$RCAnonymousID:0123456789abcdef"
    by_attribute = event_body(
        user=anonymous,
        subscriber_attributes={"clerkUserId": {"value": ALICE, "updated_at_ms": 1}},
    )
    by_alias = event_body(user=anonymous, aliases=[anonymous, BOB])

    await post(client, by_attribute)
    await post(client, by_alias)

    assert await status_of(app, ALICE) is SubscriptionStatus.ACTIVE
    assert await status_of(app, BOB) is SubscriptionStatus.ACTIVE
    assert await app.users.find_by_external_id(anonymous) is None


async def test_an_anonymous_only_event_is_acknowledged_without_a_user(app_client):
    app, client = app_client
    anonymous = "$RCAnonymousID:fedcba9876543210"
    body = event_body(user=anonymous, original_app_user_id=anonymous, aliases=[anonymous])
    before = await snapshot(app)

    assert (await post(client, body)).status_code == 200
    assert await snapshot(app) == before


async def test_unknown_users_are_created_by_default(app_client):
    app, client = app_client

    assert (await post(client, event_body(user="user_new_via_billing"))).status_code == 200
    assert await status_of(app, "user_new_via_billing") is SubscriptionStatus.ACTIVE


async def test_without_create_users_an_unknown_user_is_404_and_retried(make_app):
    async with make_app(make_rc_settings(create_users=False)) as (app, client):
        body = event_body(user=ALICE)

        missing = await post(client, body)
        await app.users.ensure_user(ALICE)  # the Clerk webhook arrives meanwhile
        retried = await post(client, body)

        assert_error(missing, 404, "USER_NOT_FOUND")
        assert retried.json() == {"received": True, "duplicate": False}
        assert await status_of(app, ALICE) is SubscriptionStatus.ACTIVE


@pytest.mark.parametrize("auth", [None, "", "Bearer wrong", AUTH + "x", AUTH.lower(), "Basic abc"])
@pytest.mark.usefixtures("database")
async def test_a_wrong_authorization_is_refused_and_changes_nothing(app_client, auth):
    app, client = app_client
    before = await snapshot(app)

    response = await post(client, event_body(user=ALICE), auth=auth)

    assert_error(response, 401, "INVALID_SIGNATURE")
    assert await snapshot(app) == before


async def test_the_secret_is_accepted_bare_or_as_bearer(make_app):
    async with make_app(make_rc_settings(webhook_auth="s3cret-value")) as (_, client):
        bare = await post(client, event_body(user=ALICE), auth="s3cret-value")
        bearer = await post(client, event_body(user=BOB), auth="Bearer s3cret-value")

        assert bare.status_code == bearer.status_code == 200


async def test_the_previous_value_is_accepted_during_a_rotation_only(make_app):
    rotating = make_rc_settings(webhook_auth="new-s3cret", webhook_auth_previous="old-s3cret")
    async with make_app(rotating) as (_, client):
        old = await post(client, event_body(user=ALICE), auth="Bearer old-s3cret")
        new = await post(client, event_body(user=BOB), auth="new-s3cret")
        other = await post(client, event_body(user=ALICE), auth="some-other-value")

        assert old.status_code == new.status_code == 200
        assert_error(other, 401, "INVALID_SIGNATURE")
    async with make_app(make_rc_settings(webhook_auth="new-s3cret")) as (_, client):
        after = await post(client, event_body(user=ALICE), auth="Bearer old-s3cret")

        assert_error(after, 401, "INVALID_SIGNATURE")


async def test_without_a_secret_the_webhook_is_unavailable(make_app):
    async with make_app(make_rc_settings(webhook_auth=None)) as (app, client):
        assert_error(await post(client, event_body(user=ALICE)), 503, "SERVICE_UNAVAILABLE")
        assert await app.users.find_by_external_id(ALICE) is None


async def test_test_events_and_unknown_types_are_acknowledged(app_client):
    app, client = app_client
    before = await snapshot(app)

    test_event = await post(client, sample_test_event())
    unknown = await post(client, event_body("EXPERIMENT_ENROLLMENT", user=ALICE))
    alias = await post(client, event_body("SUBSCRIBER_ALIAS", user=ALICE))

    assert [r.status_code for r in (test_event, unknown, alias)] == [200, 200, 200]
    assert await snapshot(app) == before


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"event": {"type": "RENEWAL"}}', b'{"event": []}']
)
async def test_a_body_that_is_not_an_event_is_a_validation_error(app_client, body):
    _, client = app_client

    assert_error(await post(client, body), 400, "VALIDATION_ERROR")


async def test_the_seed_alias(app_client):
    app, client = app_client

    response = await post(client, event_body(user=ALICE), url="/webhook/subscription")

    assert response.status_code == 200
    assert await status_of(app, ALICE) is SubscriptionStatus.ACTIVE


async def test_a_transfer_moves_the_subscription(app_client):
    app, client = app_client
    t = now_ms()
    await post(client, event_body(user=ALICE, at_ms=t - 1000, product_id="venta_pro_yearly"))

    response = await post(client, transfer_body([ALICE], [BOB], at_ms=t))

    assert response.status_code == 200
    bob = await app.users.find_by_external_id(BOB)
    assert bob is not None
    assert bob.subscription.status is SubscriptionStatus.ACTIVE
    assert bob.subscription.product_id == "venta_pro_yearly"
    assert await status_of(app, ALICE) is SubscriptionStatus.EXPIRED


async def test_sandbox_events_can_be_ignored(make_app):
    async with make_app(make_rc_settings(accept_sandbox=False)) as (app, client):
        await post(client, event_body(user=ALICE, environment="SANDBOX"))
        await post(client, event_body(user=BOB, environment="PRODUCTION"))

        assert await status_of(app, ALICE) is None
        assert await status_of(app, BOB) is SubscriptionStatus.ACTIVE


async def test_only_configured_entitlements_count(make_app):
    async with make_app(make_rc_settings(entitlement_ids="pro")) as (app, client):
        await post(client, event_body(user=ALICE, entitlement_ids=["tips"]))
        await post(client, event_body(user=BOB, entitlement_ids=["pro", "tips"]))

        assert await status_of(app, ALICE) is None
        assert await status_of(app, BOB) is SubscriptionStatus.ACTIVE


async def test_the_caller_sees_the_subscription(app_client):
    app, client = app_client
    from venta_core.ports.identity import DevTokenProvider

    token = DevTokenProvider(app.settings.auth).issue(ALICE)
    await post(client, event_body(user=ALICE))

    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert me.status_code == 200
    assert me.json()["subscription"]["status"] == "active"
    assert json.loads(me.text)["subscription"]["productId"] == "venta_pro_monthly"
