"""``venta_core.services.webhooks.WebhookDeliveries`` (the core helper both webhook plugins use)
on SQLite and PostgreSQL: claims, release on failure, ordering by event time, purge, and the
RevenueCat route's answers to a redelivery being handled or abandoned by a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.domain import SubscriptionStatus
from venta_core.services.webhooks import CLAIM_LEASE, WebhookDeliveries
from venta_core.settings import Settings
from venta_core.store import webhooks as rows
from venta_core.store.engine import Database
from venta_core.store.tables import integrations, processed_webhooks
from venta_core.store.users import insert_user_if_absent

from revenuecat_samples import AUTH, event_body

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
async def db(base_settings: Settings) -> AsyncIterator[Database]:
    database = Database(base_settings)
    await database.start()
    async with database.begin() as conn:
        await conn.execute(sa.delete(processed_webhooks))
        await conn.execute(sa.delete(integrations))
    yield database
    await database.stop()


async def test_a_delivery_is_claimed_once_even_concurrently(db: Database):
    deliveries = WebhookDeliveries(db)

    results = await asyncio.gather(*(deliveries.claim("p", "d1") for _ in range(8)))

    assert sorted(results) == [False] * 7 + [True]
    assert await deliveries.seen("p", "d1")
    assert not await deliveries.seen("p", "d2")
    assert await deliveries.claim("other", "d1")  # ids are per provider


async def test_once_runs_the_handler_once_and_releases_on_failure(db: Database):
    deliveries = WebhookDeliveries(db)
    calls: list[str] = []

    async def ok() -> None:
        calls.append("ok")

    async def boom() -> None:
        calls.append("boom")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await deliveries.once("p", "d", boom)
    assert not await deliveries.seen("p", "d")  # released: the retry is handled
    assert await deliveries.once("p", "d", ok) is True
    assert await deliveries.once("p", "d", ok) is False
    assert calls == ["boom", "ok"]


async def test_newer_refuses_events_older_than_the_newest_applied(db: Database):
    deliveries = WebhookDeliveries(db)
    async with db.begin() as conn:
        user_id = await insert_user_if_absent(conn, "user_ordering")
    assert user_id is not None

    assert await deliveries.newer("p", user_id, 2_000, {"lastEventId": "b"})
    assert not await deliveries.newer("p", user_id, 1_000, {"lastEventId": "a"})
    assert await deliveries.newer("p", user_id, 2_000)  # same millisecond: not ordered
    assert await deliveries.newer("p", user_id, 3_000)
    assert await deliveries.newer("other", user_id, 1_000)  # per provider
    async with db.connect() as conn:
        data = (
            await conn.execute(sa.select(integrations.c.data).where(integrations.c.provider == "p"))
        ).scalar_one()
    assert data == {"lastEventId": "b", "lastEventAtMs": 3_000}


async def test_concurrent_ordering_checks_agree(db: Database):
    deliveries = WebhookDeliveries(db)
    async with db.begin() as conn:
        user_id = await insert_user_if_absent(conn, "user_race")
    assert user_id is not None

    results = await asyncio.gather(*(deliveries.newer("p", user_id, t) for t in (5, 9, 7, 1)))

    assert results[1] is True  # the newest always passes
    async with db.connect() as conn:
        data = (await conn.execute(sa.select(integrations.c.data))).scalar_one()
    assert data["lastEventAtMs"] == 9


async def test_purge_deletes_old_claims(db: Database):
    deliveries = WebhookDeliveries(db)
    await deliveries.claim("p", "recent")

    assert await deliveries.purge(timedelta(days=7)) == 0
    assert await deliveries.purge(timedelta(seconds=-1)) == 1
    assert not await deliveries.seen("p", "recent")


async def test_purge_keeps_permanent_markers(db: Database):
    deliveries = WebhookDeliveries(db)
    await deliveries.claim("example.blocked", "user_1")
    await deliveries.claim("p", "d")

    assert await deliveries.purge(timedelta(seconds=-1)) == 1
    assert await deliveries.seen("example.blocked", "user_1")


async def test_an_event_being_handled_is_refused_then_applied_after_a_crash(
    app_client: tuple[Venta, httpx.AsyncClient],
):
    """Another process claimed the event and died before finishing: its retry gets 409 while
    the claim is young, and is applied once the claim is older than the lease."""
    app, client = app_client
    event_id = "EVT-CRASHED-1"
    body = event_body("INITIAL_PURCHASE", user="user_2crash000000000000000000", event_id=event_id)
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    async with app.database.begin() as conn:
        assert await rows.claim(conn, "revenuecat", event_id, completed=False)

    refused = await client.post("/v1/webhooks/revenuecat", content=body, headers=headers)

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "CONFLICT"
    assert await app.users.find_by_external_id("user_2crash000000000000000000") is None

    async with app.database.begin() as conn:  # the lease runs out: the claim was abandoned
        await conn.execute(
            sa.update(processed_webhooks).values(
                received_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)
            )
        )
    retried = await client.post("/v1/webhooks/revenuecat", content=body, headers=headers)
    again = await client.post("/v1/webhooks/revenuecat", content=body, headers=headers)

    assert retried.status_code == 200, retried.text
    assert retried.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    user = await app.users.find_by_external_id("user_2crash000000000000000000")
    assert user is not None
    assert user.subscription.status is SubscriptionStatus.ACTIVE
