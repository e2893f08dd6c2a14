"""Correctly signed Clerk webhooks whose content does not fit: 400 VALIDATION_ERROR and nothing
changes, never a 500. NUL and over-long ids break only on PostgreSQL, so every case runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from venta_core.app import Venta
from venta_core.store.tables import deleted_identities, outbox, processed_webhooks, users

from clerk_stubs import SigningKey, clerk_event, svix_headers

URL = "/v1/webhooks/clerk"
ALICE = "user_2alice0000000000000000000"

pytestmark = pytest.mark.usefixtures("database")


async def counts(app: Venta) -> tuple[int, ...]:
    tables = (users, outbox, processed_webhooks, deleted_identities)
    found = []
    async with app.database.connect() as conn:
        for table in tables:
            query = sa.select(sa.func.count()).select_from(table)
            found.append(int((await conn.execute(query)).scalar_one()))
    return tuple(found)


def nested(depth: int) -> bytes:
    """A user.created whose data holds ``depth`` nested arrays."""
    event = json.loads(clerk_event("user.created", ALICE))
    head = json.dumps(event, separators=(",", ":"))[:-1]
    return f'{head},"deep":{"[" * depth}{"]" * depth}}}'.encode()


def validation_error(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 400, response.text
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error


@pytest.mark.parametrize(
    "body",
    [
        clerk_event("user.created", "user_\u0000nul"),
        clerk_event("user.updated", "user_\u0000nul"),
        clerk_event("user.deleted", "user_\u0000nul"),
        clerk_event("user.created", "user_" + "x" * 251),  # 256 characters
        clerk_event("user.deleted", "user_" + "x" * 251),
        clerk_event("user.created", ""),
        clerk_event("user.created", "user_tab\there"),
        json.dumps({"type": "user.created", "data": {"id": 42}}).encode(),
        json.dumps({"type": "user.created", "data": {}}).encode(),
        json.dumps({"type": "user.created\u0000", "data": {"id": ALICE}}).encode(),
        json.dumps({"type": "user.created", "data": [ALICE]}).encode(),
        json.dumps(["user.created", ALICE]).encode(),
        nested(10_000),
        nested(300),
    ],
    ids=[
        "nul-created",
        "nul-updated",
        "nul-deleted",
        "256-created",
        "256-deleted",
        "empty-id",
        "control-character",
        "id-not-a-string",
        "no-id",
        "nul-type",
        "data-not-an-object",
        "not-an-object",
        "nested-10000",
        "nested-300",
    ],
)
async def test_signed_bodies_that_do_not_fit_are_refused(app_client, body: bytes):
    app, client = app_client
    before = await counts(app)

    response = await client.post(URL, content=body, headers=svix_headers(body))

    error = validation_error(response)
    assert error["message"] == "Not a Clerk event"
    assert await counts(app) == before


async def test_an_id_of_255_characters_is_accepted(app_client):
    app, client = app_client
    longest = "user_" + "x" * 250
    body = clerk_event("user.created", longest)

    response = await client.post(URL, content=body, headers=svix_headers(body))

    assert response.status_code == 200, response.text
    assert await app.users.find_by_external_id(longest) is not None


@pytest.mark.parametrize("msg_id", ["msg_" + "x" * 252, "msg_\u0001"], ids=["256", "control"])
async def test_a_signed_svix_id_that_does_not_fit_is_refused(app_client, msg_id: str):
    app, client = app_client
    body = clerk_event("user.created", ALICE)
    headers = svix_headers(body, msg_id=msg_id)
    before = await counts(app)

    response = await client.post(URL, content=body, headers=headers)

    error = validation_error(response)
    assert error["details"] == {"field": "svix-id"}
    assert await counts(app) == before


async def test_other_events_are_not_held_to_user_fields(app_client):
    app, client = app_client
    body = json.dumps({"type": "session.created", "data": {"id": 7, "deep": [[[]]]}}).encode()

    response = await client.post(URL, content=body, headers=svix_headers(body))

    assert response.status_code == 200, response.text
    assert (await counts(app))[0] == 0


@pytest.mark.parametrize(
    "subject", ["user_\u0000nul", "user_\ud800", "x" * 256], ids=["nul", "surrogate", "256"]
)
async def test_a_session_token_whose_subject_cannot_be_stored_is_refused(
    app_client, key: SigningKey, subject: str
):
    app, client = app_client
    token = key.token(sub=subject)

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert (await counts(app))[0] == 0
