"""Clerk user webhooks, signed with the svix library as Clerk's svix sends them: accepted once,
refused with 401 INVALID_SIGNATURE when the signature is missing, forged or stale, and in
every refused or repeated case nothing changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.services.identities import DeletedIdentities
from venta_core.services.webhooks import CLAIM_LEASE, WebhookDeliveries
from venta_core.store import identities
from venta_core.store import webhooks as rows
from venta_core.store.tables import outbox, processed_webhooks, users

from clerk_stubs import clerk_event, make_clerk_settings, svix_headers
from venta_clerk.webhooks import PROVIDER

URL = "/v1/webhooks/clerk"
ALICE = "user_2alice0000000000000000000"


async def deliver(
    client: httpx.AsyncClient, body: bytes, url: str = URL, **kw: Any
) -> httpx.Response:
    return await client.post(url, content=body, headers=svix_headers(body, **kw))


async def counts(app: Venta) -> tuple[int, int, int]:
    async with app.database.connect() as conn:
        return (
            (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one(),
            (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one(),
            (
                await conn.execute(sa.select(sa.func.count()).select_from(processed_webhooks))
            ).scalar_one(),
        )


def assert_refused(response: httpx.Response, status: int = 401, code: str = "INVALID_SIGNATURE"):
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == code


@pytest.mark.usefixtures("database")
async def test_user_created_once_even_when_delivered_twice(app_client):
    app, client = app_client
    body = clerk_event("user.created", ALICE)
    headers = svix_headers(body)

    first = await client.post(URL, content=body, headers=headers)
    after_first = await counts(app)
    again = await client.post(URL, content=body, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert await counts(app) == after_first == (1, 1, 1)  # user, user.created event, claim
    assert await app.users.find_by_external_id(ALICE) is not None


async def test_user_updated_creates_a_missing_user_and_changes_nothing_else(app_client):
    app, client = app_client

    assert (await deliver(client, clerk_event("user.updated", ALICE))).status_code == 200
    user = await app.users.find_by_external_id(ALICE)
    assert (await deliver(client, clerk_event("user.updated", ALICE, first_name="B"))).is_success

    assert user is not None
    assert await app.users.find_by_external_id(ALICE) == user


@pytest.mark.usefixtures("database")
async def test_user_deleted_removes_the_user_and_their_vendors(app_client):
    app, client = app_client
    user = await app.users.ensure_user(ALICE)
    await app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name="Tacos"))
    api = client._transport.app  # type: ignore[attr-defined]
    api.state.identity_cache.put(ALICE, user)

    response = await deliver(client, clerk_event("user.deleted", ALICE))

    assert response.status_code == 200, response.text
    assert await app.users.find_by_external_id(ALICE) is None
    assert await app.users.list_user_vendors(user.id) == []
    assert api.state.identity_cache.get(ALICE) is None


async def test_a_late_created_after_deleted_does_not_bring_the_user_back(app_client):
    app, client = app_client
    created = clerk_event("user.created", ALICE)
    await deliver(client, clerk_event("user.created", ALICE))
    await deliver(client, clerk_event("user.deleted", ALICE))

    late_create = await deliver(client, created)  # svix retrying an older delivery
    late_update = await deliver(client, clerk_event("user.updated", ALICE))

    assert late_create.status_code == late_update.status_code == 200
    assert await app.users.find_by_external_id(ALICE) is None


async def test_deleting_an_unknown_user_is_acknowledged(app_client):
    _, client = app_client

    assert (
        await deliver(client, clerk_event("user.deleted", "user_never_seen"))
    ).status_code == 200


async def test_other_event_types_are_acknowledged_and_ignored(app_client):
    app, client = app_client
    body = clerk_event("session.created", ALICE)

    response = await deliver(client, body)

    assert response.status_code == 200
    assert await app.users.find_by_external_id(ALICE) is None


async def test_the_seed_alias(app_client):
    app, client = app_client

    response = await deliver(client, clerk_event("user.created", ALICE), url="/webhook/clerk")

    assert response.status_code == 200
    assert await app.users.find_by_external_id(ALICE) is not None


@pytest.mark.parametrize(
    "tamper",
    [
        "missing headers",
        "wrong secret",
        "body changed",
        "signature of another id",
        "malformed signature",
        "too old",
        "from the future",
    ],
)
@pytest.mark.usefixtures("database")
async def test_unverifiable_deliveries_are_refused_and_change_nothing(app_client, tamper):
    app, client = app_client
    body = clerk_event("user.created", ALICE)
    headers = svix_headers(body)
    if tamper == "missing headers":
        headers = {"content-type": "application/json"}
    elif tamper == "wrong secret":
        headers = svix_headers(body, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    elif tamper == "body changed":
        body = body.replace(ALICE.encode(), b"user_2mallory000000000000000")
    elif tamper == "signature of another id":
        headers["svix-id"] = "msg_other"
    elif tamper == "malformed signature":
        headers["svix-signature"] = "garbage"
    elif tamper == "too old":
        headers = svix_headers(body, at=time.time() - 600)
    elif tamper == "from the future":
        headers = svix_headers(body, at=time.time() + 600)
    before = await counts(app)

    response = await client.post(URL, content=body, headers=headers)

    assert_refused(response)
    assert await counts(app) == before


async def test_a_tighter_tolerance_is_applied(make_app, jwks):
    async with make_app(make_clerk_settings(jwks, webhook_tolerance_seconds=60)) as (app, client):
        body = clerk_event("user.created", ALICE)
        response = await client.post(
            URL, content=body, headers=svix_headers(body, at=time.time() - 120)
        )

        assert_refused(response)
        assert await app.users.find_by_external_id(ALICE) is None


async def test_without_a_secret_webhooks_are_unavailable(make_app, jwks):
    async with make_app(make_clerk_settings(jwks, webhook_secret=None)) as (app, client):
        response = await deliver(client, clerk_event("user.created", ALICE))

        assert_refused(response, 503, "SERVICE_UNAVAILABLE")
        assert await app.users.find_by_external_id(ALICE) is None


async def test_a_signed_body_that_is_not_json_is_a_validation_error(app_client):
    _, client = app_client

    assert_refused(await deliver(client, b"not json"), 400, "VALIDATION_ERROR")


async def test_a_failed_delivery_is_handled_again_when_retried(app_client, monkeypatch):
    app, client = app_client
    body = clerk_event("user.created", ALICE)
    headers = svix_headers(body)
    real = app.users.ensure_user
    calls = []

    async def flaky(external_id: str):
        calls.append(external_id)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return await real(external_id)

    monkeypatch.setattr(app.users, "ensure_user", flaky)

    failed = await client.post(URL, content=body, headers=headers)
    retried = await client.post(URL, content=body, headers=headers)

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert retried.json()["duplicate"] is False
    assert await app.users.find_by_external_id(ALICE) is not None


@pytest.mark.usefixtures("database")
async def test_a_deleted_user_stays_deleted_after_old_claims_are_purged(app_client):
    app, client = app_client
    await deliver(client, clerk_event("user.created", ALICE))
    await deliver(client, clerk_event("user.deleted", ALICE))

    purged = await WebhookDeliveries(app.database).purge(timedelta(seconds=-1))
    late = await deliver(client, clerk_event("user.created", ALICE))

    assert purged == 2  # both delivery claims; the tombstone is not a claim
    assert late.status_code == 200
    assert await app.users.find_by_external_id(ALICE) is None
    assert await DeletedIdentities(app.database).is_deleted(ALICE)


@pytest.mark.usefixtures("database")
async def test_a_deletion_cut_short_by_a_crash_is_completed_by_the_retry(app_client):
    """The process died after writing the tombstone and before deleting the user: svix's
    retry is refused while the claim is young, then takes it over and deletes the user."""
    app, client = app_client
    await app.users.ensure_user(ALICE)
    body = clerk_event("user.deleted", ALICE)
    headers = svix_headers(body)
    async with app.database.begin() as conn:
        assert await rows.claim(conn, PROVIDER, headers["svix-id"], completed=False)
        assert await identities.add_tombstone(conn, ALICE)

    early = await client.post(URL, content=body, headers=headers)
    assert_refused(early, 409, "CONFLICT")
    assert await app.users.find_by_external_id(ALICE) is not None

    async with app.database.begin() as conn:
        await conn.execute(
            sa.update(processed_webhooks)
            .where(processed_webhooks.c.provider == PROVIDER)
            .values(received_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1))
        )
    retried = await client.post(URL, content=body, headers=headers)

    assert retried.status_code == 200, retried.text
    assert retried.json() == {"received": True, "duplicate": False}
    assert await app.users.find_by_external_id(ALICE) is None


def _deliveries(metrics: str) -> dict[str, float]:
    """``outcome -> count`` of Clerk's webhook deliveries in a ``/metrics`` page."""
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "venta_webhook_deliveries_total"
        and sample.labels.get("provider") == PROVIDER
    }


async def test_deliveries_are_counted_by_outcome_on_the_gateway(app_client, monkeypatch):
    app, client = app_client
    before = _deliveries((await client.get("/metrics")).text)
    body = clerk_event("user.created", ALICE)
    headers = svix_headers(body)
    real = app.users.ensure_user
    calls = []

    async def flaky(external_id: str):
        calls.append(external_id)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return await real(external_id)

    monkeypatch.setattr(app.users, "ensure_user", flaky)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 500
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    assert (await client.post(URL, content=body, headers=headers)).json()["duplicate"]
    forged = svix_headers(body, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
    assert_refused(await client.post(URL, content=body, headers=forged))
    after = _deliveries((await client.get("/metrics")).text)

    counted = {outcome: after[outcome] - before.get(outcome, 0.0) for outcome in after}
    assert {outcome: n for outcome, n in counted.items() if n} == {
        "failed": 1,
        "processed": 1,
        "duplicate": 1,
        "rejected": 1,
    }
