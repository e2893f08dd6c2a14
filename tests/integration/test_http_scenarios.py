"""Every HTTP route end to end through the real application, on the embedded backends and on
PostgreSQL + Redis + NATS: status codes, error codes, and that refused requests change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.transports.http import create_http_app

Client = httpx.AsyncClient
BOX = "swLat=52.50&swLong=13.38&neLat=52.54&neLong=13.43"


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


@pytest.fixture
def auth(app: Venta) -> Callable[[str], dict[str, str]]:
    tokens = DevTokenProvider(app.settings.auth)
    return lambda subject: {"Authorization": f"Bearer {tokens.issue(subject)}"}


async def _vendor(client: Client, headers: dict[str, str], **body: object) -> str:
    response = await client.post(
        "/v1/vendors", json={"name": "Taco Truck", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_vendor_routes_end_to_end(
    client: Client, auth: Callable[..., dict[str, str]]
) -> None:
    alice, bob = auth("alice"), auth("bob")
    vendor_id = await _vendor(client, alice, email="tacos@example.com", website="https://t.example")

    me = (await client.get("/v1/me", headers=alice)).json()
    assert me["externalId"] == "alice" and me["subscription"]["status"] == "inactive"
    assert (await client.get("/v1/me/vendors", headers=alice)).json() == [
        {"id": vendor_id, "name": "Taco Truck"}
    ]
    vendor = (await client.get(f"/v1/vendors/{vendor_id}", headers=bob)).json()
    assert vendor["email"] == "tacos@example.com" and vendor["open"] is False
    assert vendor["createdAt"].endswith("Z") or vendor["createdAt"].endswith("+00:00")

    updated = await client.put(f"/v1/vendors/{vendor_id}", json={"open": True}, headers=alice)
    assert updated.status_code == 200
    assert updated.json()["open"] is True and updated.json()["name"] == "Taco Truck"

    put = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
    )
    assert put.status_code == 200
    got = (await client.get(f"/v1/vendors/{vendor_id}/location", headers=bob)).json()
    assert got["location"]["lat"] == pytest.approx(52.52, abs=1e-5)
    in_box = (await client.get(f"/v1/vendors/nearby?{BOX}", headers=bob)).json()
    assert [v["id"] for v in in_box["vendors"]] == [vendor_id]
    circle = await client.get("/v1/vendors/nearby?lat=52.52&long=13.405&radius=500", headers=bob)
    assert circle.json()["vendors"][0]["distance"] < 1

    deleted = await client.delete(f"/v1/vendors/{vendor_id}", headers=alice)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/vendors/{vendor_id}", headers=bob)
    assert gone.status_code == 404 and _code(gone) == "VENDOR_NOT_FOUND"
    no_position = await client.get(f"/v1/vendors/{vendor_id}/location", headers=bob)
    assert no_position.status_code == 404
    assert (await client.get(f"/v1/vendors/nearby?{BOX}", headers=bob)).json() == {"vendors": []}


async def test_seed_aliases_share_the_data(
    client: Client, auth: Callable[..., dict[str, str]]
) -> None:
    alice = auth("alice")
    created = await client.post("/vendor", json={"name": "Crepes", "imageUrl": None}, headers=alice)
    assert created.status_code == 201
    vendor_id = created.json()["id"]
    assert (await client.get("/user/vendors", headers=alice)).json() == {
        "vendors": [{"id": vendor_id, "name": "Crepes"}]
    }
    assert (await client.get(f"/vendor/{vendor_id}", headers=alice)).json()["vendor"]["id"] == (
        vendor_id
    )
    put = await client.put(f"/vendor/{vendor_id}", json={"description": "Sweet"}, headers=alice)
    assert put.json() == {"message": "Vendor updated successfully", "success": True}
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()["description"] == (
        "Sweet"
    )


async def test_refused_requests_change_nothing(
    client: Client, auth: Callable[..., dict[str, str]], app: Venta
) -> None:
    alice, mallory = auth("alice"), auth("mallory")
    vendor_id = await _vendor(client, alice)
    await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
    )
    before = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()

    attempts = [
        ("PUT", f"/v1/vendors/{vendor_id}", {"name": "Stolen"}, mallory, 403, "FORBIDDEN"),
        ("DELETE", f"/v1/vendors/{vendor_id}", None, mallory, 403, "FORBIDDEN"),
        ("PUT", f"/v1/vendors/{vendor_id}/location", {"lat": 0, "long": 0}, mallory, 403,
         "FORBIDDEN"),
        ("PUT", f"/v1/vendors/{vendor_id}", {"name": ""}, alice, 400, "VALIDATION_ERROR"),
        ("PUT", f"/v1/vendors/{vendor_id}", {"email": "nope"}, alice, 400, "VALIDATION_ERROR"),
        ("PUT", f"/v1/vendors/{vendor_id}", {"name": 7}, alice, 400, "VALIDATION_ERROR"),
        ("PUT", f"/v1/vendors/{vendor_id}/location", {"lat": 91, "long": 0}, alice, 400,
         "VALIDATION_ERROR"),
        ("PUT", f"/v1/vendors/{vendor_id}/location", {"lat": "x", "long": 0}, alice, 400,
         "VALIDATION_ERROR"),
        ("PUT", f"/v1/vendors/{vendor_id}", {"name": "Anon"}, {}, 401, "UNAUTHENTICATED"),
        ("PUT", f"/v1/vendors/{vendor_id}", {"name": "Forged"},
         {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged"}, 401, "UNAUTHENTICATED"),
    ]  # fmt: skip
    for method, path, body, headers, status, code in attempts:
        response = await client.request(method, path, json=body, headers=headers)
        assert (response.status_code, _code(response)) == (status, code), (method, path, body)

    after = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()
    assert after == before
    position = (await client.get(f"/v1/vendors/{vendor_id}/location", headers=alice)).json()
    assert position["location"]["lat"] == pytest.approx(52.52, abs=1e-5)
    assert [v.id for v in await app.users.list_user_vendors(after["ownerId"])] == [vendor_id]


async def test_bad_queries(client: Client, auth: Callable[..., dict[str, str]]) -> None:
    bob = auth("bob")
    for query in (
        "swLat=52.5&swLong=13.4",
        "lat=52.5&long=13.4",
        "lat=100&long=13.4&radius=10",
        "lat=52.5&long=13.4&radius=-1",
        "lat=nan&long=13.4&radius=10",
        f"{BOX}&lat=52.5&long=13.4&radius=10",
        f"{BOX}&limit=0",
        "swLat=53&swLong=13.38&neLat=52.5&neLong=13.43",
    ):
        response = await client.get(f"/v1/vendors/nearby?{query}", headers=bob)
        assert (response.status_code, _code(response)) == (400, "VALIDATION_ERROR"), query
    unknown = await client.get("/v1/vendors/00000000-0000-4000-8000-000000000000", headers=bob)
    assert (unknown.status_code, _code(unknown)) == (404, "VENDOR_NOT_FOUND")


async def test_rate_limit_is_shared_state(app: Venta, auth: Callable[..., dict[str, str]]) -> None:
    """Two gateways on one key-value store share a caller's budget (Redis in production)."""
    limits = app.settings.rate_limit.model_copy(update={"per_identity": 3})
    app.settings = app.settings.model_copy(update={"rate_limit": limits})
    first, second = create_http_app(app), create_http_app(app)
    headers = auth("hasty")
    statuses = []
    for api in (first, second, first, second):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url="http://venta.test"
        ) as c:
            statuses.append(await c.get("/v1/me", headers=headers))
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert _code(statuses[-1]) == "RATE_LIMITED"


async def test_ready_reports_every_backend(client: Client, app: Venta) -> None:
    body = (await client.get("/ready")).json()
    assert body["status"] == "ready"
    expected = {"database", "geo", "kv", "bus"}
    if not app.settings.is_sqlite:
        expected.add("redis")
    assert set(body["checks"]) == expected
    assert set(body["checks"].values()) == {"ok"}
