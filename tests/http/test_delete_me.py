"""``DELETE /v1/me`` on a started application, on SQLite and on PostgreSQL + Redis + NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.http.http_fakes import assert_error
from venta_core.app import Venta
from venta_core.transports.http import create_http_app


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        yield client


def _auth(app: Venta, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.identity.issue(subject)}"}  # type: ignore[attr-defined]


async def _vendor_at(client: httpx.AsyncClient, headers: dict[str, str], lat: float) -> str:
    created = await client.post("/v1/vendors", json={"name": "Stall"}, headers=headers)
    vendor_id = str(created.json()["id"])
    moved = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": 13.4}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    return vendor_id


async def test_deleting_me_takes_my_vendors_and_positions_and_nobody_elses(
    app: Venta, client: httpx.AsyncClient
) -> None:
    alice, bob = _auth(app, "del-alice"), _auth(app, "del-bob")
    hers = [await _vendor_at(client, alice, 52.52), await _vendor_at(client, alice, 52.521)]
    his = await _vendor_at(client, bob, 52.522)
    assert (await client.get("/v1/me", headers=alice)).status_code == 200  # cached identity

    deleted = await client.delete("/v1/me", headers=alice)

    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert await app.users.find_by_external_id("del-alice") is None
    for vendor_id in hers:
        assert_error(
            await client.get(f"/v1/vendors/{vendor_id}", headers=bob), 404, "VENDOR_NOT_FOUND"
        )
        assert await app.geo.get(vendor_id) is None
    nearby = await client.get("/v1/vendors/nearby?lat=52.52&long=13.4&radius=2000", headers=bob)
    assert [v["id"] for v in nearby.json()["vendors"]] == [his]
    assert (await client.get("/v1/me/vendors", headers=bob)).json() == [
        {"id": his, "name": "Stall"}
    ]


async def test_deleting_me_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/v1/me"), 401, "UNAUTHENTICATED")
