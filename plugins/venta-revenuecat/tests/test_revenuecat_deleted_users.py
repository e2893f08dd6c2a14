"""RevenueCat events naming a deleted user change nothing: acknowledged (so RevenueCat stops
retrying), logged, and the user is not created again. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.services.identities import DeletedIdentities
from venta_core.store.tables import outbox, user_subscriptions, users

from revenuecat_samples import AUTH, event_body, make_rc_settings, transfer_body

URL = "/v1/webhooks/revenuecat"
ALICE = "user_2alice0000000000000000000"
BOB = "user_2bob000000000000000000000"

pytestmark = pytest.mark.usefixtures("database")


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    return await client.post(URL, content=body, headers=headers)


async def delete(app: Venta, external_id: str) -> None:
    user = await app.users.ensure_user(external_id)
    await app.users.delete_user(user.id)


async def rows(app: Venta) -> tuple[Any, ...]:
    """Users, subscriptions and the number of events."""
    async with app.database.connect() as conn:
        people = (await conn.execute(sa.select(users).order_by(users.c.id))).all()
        subs = (await conn.execute(sa.select(user_subscriptions))).all()
        events = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    return [tuple(r) for r in people], [tuple(r) for r in subs], events


@pytest.mark.parametrize(
    "body",
    [
        event_body("INITIAL_PURCHASE", user=ALICE),
        event_body("RENEWAL", user="$RCAnonymousID:abc", aliases=[ALICE]),
        event_body(
            "INITIAL_PURCHASE",
            user="$RCAnonymousID:abc",
            subscriber_attributes={"clerkUserId": {"value": ALICE, "updated_at_ms": 1}},
        ),
        event_body("EXPIRATION", user=ALICE),
    ],
    ids=["app_user_id", "alias", "attribute", "expiration"],
)
async def test_an_event_for_a_deleted_user_is_acknowledged_and_ignored(
    app_client, caplog, body: bytes
):
    app, client = app_client
    await delete(app, ALICE)
    before = await rows(app)

    with caplog.at_level(logging.INFO, logger="venta.revenuecat"):
        response = await post(client, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False}
    assert await rows(app) == before
    assert "RevenueCat event for a deleted user ignored" in caplog.messages


async def test_an_identity_deleted_before_its_first_event_is_not_created(app_client):
    app, client = app_client
    await DeletedIdentities(app.database).forget(ALICE)

    response = await post(client, event_body("INITIAL_PURCHASE", user=ALICE))

    assert response.status_code == 200, response.text
    assert await app.users.find_by_external_id(ALICE) is None


async def test_without_create_users_a_deleted_user_is_not_retried_forever(make_app):
    async with make_app(make_rc_settings(create_users=False)) as (app, client):
        await delete(app, ALICE)

        response = await post(client, event_body("RENEWAL", user=ALICE))

        assert response.status_code == 200, response.text
        assert await app.users.find_by_external_id(ALICE) is None


async def test_a_transfer_neither_gives_to_nor_takes_from_a_deleted_user(app_client):
    app, client = app_client
    await post(client, event_body("INITIAL_PURCHASE", user=BOB))
    await delete(app, ALICE)

    to_deleted = await post(client, transfer_body([BOB], [ALICE]))
    from_deleted = await post(client, transfer_body([ALICE], [BOB]))

    assert to_deleted.status_code == from_deleted.status_code == 200
    assert await app.users.find_by_external_id(ALICE) is None
    bob = await app.users.find_by_external_id(BOB)
    assert bob is not None and bob.subscription.status.value == "expired"
