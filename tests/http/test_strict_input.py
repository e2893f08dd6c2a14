"""Input the stores cannot keep or the contract does not allow is refused at the edge with
VALIDATION_ERROR, the same on SQLite and PostgreSQL, and nothing is written: NUL and unpaired
surrogates in text, NUL in a token subject or a search, non-boolean ``open``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.http.http_fakes import assert_error
from venta_core.app import Venta
from venta_core.transports.http import create_http_app

NUL = "\x00"


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        yield client


def _auth(app: Venta, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.identity.issue(subject)}"}  # type: ignore[attr-defined]


def _field(response: httpx.Response) -> str:
    error = assert_error(response, 400, "VALIDATION_ERROR")
    field: str = error["details"]["errors"][0]["field"]
    return field


TEXT_WITH_NUL = [
    ("name", f"Taco{NUL}Truck"),
    ("description", f"al pastor{NUL}"),
    ("phone", f"+49 30{NUL}123"),
    ("email", f"taco{NUL}@example.com"),
    ("website", f"https://taco.example/{NUL}"),
    ("primaryImage", f"https://img.example/{NUL}.png"),
    ("imageUrl", f"https://img.example/{NUL}.png"),
]


@pytest.mark.parametrize(("field", "value"), TEXT_WITH_NUL)
async def test_create_refuses_nul_in_any_text(app, client, field, value):
    alice = _auth(app, "alice")
    body = {"name": "Taco", field: value}
    for path in ("/v1/vendors", "/vendor"):
        assert _field(await client.post(path, json=body, headers=alice)) == field
    assert (await client.get("/v1/me/vendors", headers=alice)).json() == []


@pytest.mark.parametrize(("field", "value"), TEXT_WITH_NUL)
async def test_update_refuses_nul_and_leaves_the_vendor_alone(app, client, field, value):
    alice = _auth(app, "alice")
    created = await client.post("/v1/vendors", json={"name": "Taco"}, headers=alice)
    vendor_id = created.json()["id"]
    before = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()
    for path in (f"/v1/vendors/{vendor_id}", f"/vendor/{vendor_id}"):
        assert _field(await client.put(path, json={field: value}, headers=alice)) == field
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json() == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "Taco \\ud800"}', "name"),  # an unpaired surrogate: valid JSON escape
        (b'{"name": "Taco", "description": "\\udfff"}', "description"),
        (b'{"name": "Taco \\u0000"}', "name"),
    ],
)
async def test_escaped_nul_and_unpaired_surrogates_are_refused(app, client, raw, field):
    alice = _auth(app, "alice")
    headers = {**alice, "Content-Type": "application/json"}
    assert _field(await client.post("/v1/vendors", content=raw, headers=headers)) == field
    assert (await client.get("/v1/me/vendors", headers=alice)).json() == []


async def test_text_keeps_everything_else(app, client):
    alice = _auth(app, "alice")
    name = "Crêpes 🥞 \u2028 tab\there"
    created = await client.post(
        "/v1/vendors", json={"name": f"  {name}  ", "description": " x "}, headers=alice
    )
    assert created.status_code == 201, created.text
    vendor = (await client.get(f"/v1/vendors/{created.json()['id']}", headers=alice)).json()
    assert (vendor["name"], vendor["description"]) == (name, "x")


async def test_a_token_subject_with_nul_is_unauthenticated(app, client):
    for subject in (f"user{NUL}", f"{NUL}"):
        error = assert_error(
            await client.get("/v1/me", headers=_auth(app, subject)), 401, "UNAUTHENTICATED"
        )
        assert error["details"] == {"reason": "bad subject"}
    assert await app.users.find_by_external_id(f"user{NUL}") is None


async def test_a_search_for_nul_is_a_validation_error(app, client):
    alice = _auth(app, "alice")
    for query in ("taco%00", "%00"):
        response = await client.get(f"/v1/search/vendors?q={query}", headers=alice)
        assert _field(response) == "q"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "1", None, [], {}])
async def test_open_is_a_strict_boolean(app, client, value: Any):
    alice = _auth(app, "alice")
    create = await client.post("/v1/vendors", json={"name": "T", "open": value}, headers=alice)
    assert _field(create) == "open"
    created = await client.post("/v1/vendors", json={"name": "T", "open": True}, headers=alice)
    vendor_id = created.json()["id"]
    update = await client.put(f"/v1/vendors/{vendor_id}", json={"open": value}, headers=alice)
    assert _field(update) == "open" if value is not None else update.status_code == 400
    vendor = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()
    assert vendor["open"] is True


@pytest.mark.parametrize(
    "email", ["Taco <taco@example.com>", "taco@shop.test", "taco@localhost", "taco@example"]
)
async def test_email_is_an_address_the_document_allows(app, client, email):
    alice = _auth(app, "alice")
    body = {"name": "Taco", "email": email}
    assert _field(await client.post("/v1/vendors", json=body, headers=alice)) == "email"
    ok = await client.post("/v1/vendors", json={**body, "email": "Taco@Example.COM"}, headers=alice)
    vendor = (await client.get(f"/v1/vendors/{ok.json()['id']}", headers=alice)).json()
    assert vendor["email"] == "Taco@example.com"
