"""After Clerk's ``user.deleted`` the user stays deleted: their still valid session token
answers 401, and no webhook brings them back. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.services.identities import DeletedIdentities
from venta_core.store.tables import users

from clerk_stubs import SigningKey, clerk_event, svix_headers

URL = "/v1/webhooks/clerk"
ALICE = "user_2alice0000000000000000000"
DELETED = ("UNAUTHENTICATED", "This account was deleted")

pytestmark = pytest.mark.usefixtures("database")


async def deliver(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(URL, content=body, headers=svix_headers(body))


def bearer(key: SigningKey, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.token(sub=subject)}"}


def refusal(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 401, response.text
    error: dict[str, Any] = response.json()["error"]
    return error["code"], error["message"]


async def user_rows(app: Venta) -> int:
    async with app.database.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar())


async def test_a_deleted_users_session_token_is_refused(app_client, key: SigningKey):
    app, client = app_client
    headers = bearer(key, ALICE)
    me = await client.get("/v1/me", headers=headers)
    assert me.status_code == 200, me.text

    deleted = await deliver(client, clerk_event("user.deleted", ALICE))
    again = await client.get("/v1/me", headers=headers)
    created = await client.post("/v1/vendors", json={"name": "Ghost"}, headers=headers)

    assert deleted.status_code == 200, deleted.text
    assert refusal(again) == refusal(created) == DELETED
    assert await app.users.find_by_external_id(ALICE) is None
    assert await user_rows(app) == 0


async def test_a_user_deleted_before_venta_saw_them_never_appears(app_client, key: SigningKey):
    app, client = app_client

    deleted = await deliver(client, clerk_event("user.deleted", ALICE))
    me = await client.get("/v1/me", headers=bearer(key, ALICE))
    late = await deliver(client, clerk_event("user.created", ALICE))

    assert deleted.status_code == late.status_code == 200
    assert refusal(me) == DELETED
    assert await user_rows(app) == 0
    assert await DeletedIdentities(app.database).is_deleted(ALICE)


async def test_late_user_events_are_acknowledged_and_logged(app_client, caplog):
    app, client = app_client
    await deliver(client, clerk_event("user.created", ALICE))
    await deliver(client, clerk_event("user.deleted", ALICE))

    with caplog.at_level(logging.INFO, logger="venta.clerk.webhooks"):
        created = await deliver(client, clerk_event("user.created", ALICE))
        updated = await deliver(client, clerk_event("user.updated", ALICE))

    assert created.json() == updated.json() == {"received": True, "duplicate": False}
    ignored = [r.getMessage() for r in caplog.records if "deleted user ignored" in r.getMessage()]
    assert ignored == [
        "Clerk user.created for a deleted user ignored",
        "Clerk user.updated for a deleted user ignored",
    ]
    assert await user_rows(app) == 0


async def test_others_are_not_affected(app_client, key: SigningKey):
    app, client = app_client
    await deliver(client, clerk_event("user.deleted", ALICE))

    me = await client.get("/v1/me", headers=bearer(key, "user_2bob000000000000000000000"))

    assert me.status_code == 200, me.text
    assert await user_rows(app) == 1
