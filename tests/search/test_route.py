"""``GET /v1/search/vendors`` through the real application and worker, on the embedded backends
and on PostgreSQL + Redis + JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.events.helpers import wait_until
from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

ROUTE = "/v1/search/vendors"


@pytest.fixture
def worker() -> bool:
    return True


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


@pytest.fixture
def alice(app: Venta) -> dict[str, str]:
    return {"Authorization": f"Bearer {DevTokenProvider(app.settings.auth).issue('alice')}"}


async def _search(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> httpx.Response:
    return await client.get(f"{ROUTE}?{query}", headers=headers)


async def test_vendors_are_found_by_words_and_place(
    app: Venta, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/vendors",
        json={"name": "Churro Champion", "description": "Cinnamon sugar", "open": True},
        headers=alice,
    )
    vendor_id = created.json()["id"]
    put = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
    )
    assert put.status_code == 200

    async def searchable() -> bool:
        found = await _search(client, alice, "q=churro")
        return bool(found.json()["total"])

    await wait_until(searchable)
    body = (await _search(client, alice, "q=cinnamon%20churr&limit=5")).json()

    assert body["page"] == 1 and body["limit"] == 5 and body["total"] == 1
    (hit,) = body["hits"]
    assert hit["id"] == vendor_id and hit["name"] == "Churro Champion" and hit["open"] is True
    assert {"ownerId", "description", "createdAt", "updatedAt"} <= set(hit)
    assert "distance" not in hit

    await app.vendor_positions.flush()  # the geo filter uses the last known position
    near = (await _search(client, alice, "q=churro&lat=52.52&long=13.41&radius=1000")).json()
    assert near["total"] == 1 and near["hits"][0]["distance"] == pytest.approx(338.3, abs=1)
    assert near["hits"][0]["lat"] == 52.52  # the live position, written behind
    far = (await _search(client, alice, "q=churro&lat=48.1&long=11.5&radius=1000")).json()
    assert far == {"hits": [], "page": 1, "limit": 20, "total": 0}


async def test_search_needs_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ROUTE}?q=taco")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=" + "x" * 201, "q"),
        ("q=taco&lat=52.5&long=13.4", "radius"),
        ("q=taco&radius=100", "lat"),
        ("q=taco&lat=91&long=13.4&radius=100", "lat"),
        ("q=taco&lat=52.5&long=nan&radius=100", "long"),
        ("q=taco&lat=52.5&long=13.4&radius=0", "radius"),
        ("q=taco&lat=52.5&long=13.4&radius=100001", "radius"),
        ("q=taco&page=0", "page"),
        ("q=taco&page=abc", "page"),
        ("q=taco&limit=0", "limit"),
        ("q=taco&limit=101", "limit"),
    ],
)
async def test_bad_queries_are_validation_errors(
    client: httpx.AsyncClient, alice: dict[str, str], query: str, field: str
) -> None:
    response = await _search(client, alice, query)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["field"] == field
