"""The live map's reads through the real application (embedded backends, and PostgreSQL +
Redis + NATS when set): nearby pins, a vendor's location with its time, clusters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.http.http_fakes import assert_error
from venta_core.app import Venta
from venta_core.domain.cells import encode
from venta_core.ports.identity import DevTokenProvider
from venta_core.transports.http import create_http_app

Client = httpx.AsyncClient
BOX = "swLat=52.40&swLong=13.20&neLat=52.60&neLong=13.60"
PIN_FIELDS = {"id", "location", "name", "open", "updatedAt"}


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


@pytest.fixture
def auth(app: Venta) -> Callable[[str], dict[str, str]]:
    tokens = DevTokenProvider(app.settings.auth)
    return lambda subject: {"Authorization": f"Bearer {tokens.issue(subject)}"}


async def _live_vendor(
    client: Client, headers: dict[str, str], lat: float, long: float, **body: object
) -> str:
    created = await client.post("/v1/vendors", json={"name": "Taco", **body}, headers=headers)
    assert created.status_code == 201, created.text
    vendor_id = str(created.json()["id"])
    put = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": long}, headers=headers
    )
    assert put.status_code == 200, put.text
    return vendor_id


async def test_nearby_items_are_pins(client: Client, auth: Callable[..., dict[str, str]]) -> None:
    alice, bob = auth("alice"), auth("bob")
    image = "https://img.example/taco.jpg"
    taco = await _live_vendor(client, alice, 52.52, 13.405, open=True, primaryImage=image)
    stall = await _live_vendor(client, bob, 52.50, 13.30, name="Stall")

    box = (await client.get(f"/v1/vendors/nearby?{BOX}", headers=bob)).json()["vendors"]
    by_id = {v["id"]: v for v in box}
    assert set(by_id) == {taco, stall}
    assert set(by_id[taco]) == PIN_FIELDS | {"primaryImage"}
    assert by_id[taco]["name"] == "Taco" and by_id[taco]["open"] is True
    assert by_id[taco]["primaryImage"] == image
    assert by_id[taco]["updatedAt"].endswith("Z")
    assert set(by_id[stall]) == PIN_FIELDS | {"primaryImage"}
    assert by_id[stall]["primaryImage"] is None
    assert by_id[stall]["name"] == "Stall" and by_id[stall]["open"] is False

    circle = await client.get("/v1/vendors/nearby?lat=52.52&long=13.405&radius=500", headers=bob)
    (near,) = circle.json()["vendors"]
    assert set(near) == PIN_FIELDS | {"primaryImage", "distance"} and near["name"] == "Taco"


async def test_a_profile_change_shows_on_the_next_nearby(
    client: Client, auth: Callable[..., dict[str, str]]
) -> None:
    alice = auth("alice")
    taco = await _live_vendor(client, alice, 52.52, 13.405)
    first = (await client.get(f"/v1/vendors/nearby?{BOX}", headers=alice)).json()["vendors"]
    assert first[0]["name"] == "Taco" and first[0]["open"] is False

    updated = await client.put(
        f"/v1/vendors/{taco}", json={"name": "Taco Loco", "open": True}, headers=alice
    )
    assert updated.status_code == 200
    # vendor.updated reaches the pins through the bus (relayed from the outbox).
    for _ in range(400):
        pins = (await client.get(f"/v1/vendors/nearby?{BOX}", headers=alice)).json()["vendors"]
        if pins[0]["name"] == "Taco Loco":
            break
        await asyncio.sleep(0.05)
    assert pins[0]["name"] == "Taco Loco" and pins[0]["open"] is True


async def test_location_carries_when_it_was_set(
    client: Client, auth: Callable[..., dict[str, str]]
) -> None:
    alice = auth("alice")
    taco = await _live_vendor(client, alice, 52.52, 13.405)
    put_at = (
        await client.put(
            f"/v1/vendors/{taco}/location", json={"lat": 52.53, "long": 13.41}, headers=alice
        )
    ).json()["updatedAt"]
    got = (await client.get(f"/v1/vendors/{taco}/location", headers=alice)).json()
    assert set(got) == {"id", "location", "updatedAt"}
    assert got["updatedAt"] == put_at


async def test_clusters_count_vendors_by_cell(
    app: Venta, client: Client, auth: Callable[..., dict[str, str]]
) -> None:
    alice = auth("alice")
    spots = [(52.52, 13.405), (52.5201, 13.4051), (52.45, 13.25), (48.85, 2.35)]
    for lat, long in spots:
        await _live_vendor(client, alice, lat, long)

    response = await client.get(f"/v1/vendors/clusters?{BOX}&precision=5", headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["precision"] == 5
    counts = {c["cell"]: c["count"] for c in body["clusters"]}
    assert counts == {encode(52.52, 13.405, 5): 2, encode(52.45, 13.25, 5): 1}
    pair = next(c for c in body["clusters"] if c["count"] == 2)
    assert pair["location"]["lat"] == pytest.approx(52.52005, abs=1e-5)
    assert pair["location"]["long"] == pytest.approx(13.40505, abs=1e-5)

    default = (await client.get(f"/v1/vendors/clusters?{BOX}", headers=alice)).json()
    assert 1 <= default["precision"] <= 12
    assert sum(c["count"] for c in default["clusters"]) == 3
    world = "swLat=-90&swLong=-180&neLat=90&neLong=180"
    whole = (await client.get(f"/v1/vendors/clusters?{world}", headers=alice)).json()
    assert sum(c["count"] for c in whole["clusters"]) == 4
    assert len(whole["clusters"]) <= app.settings.location.max_clusters


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("swLat=52.6&swLong=13.2&neLat=52.4&neLong=13.6", "swLat"),
        ("swLat=91&swLong=13.2&neLat=52.4&neLong=13.6", "swLat"),
        ("swLong=13.2&neLat=52.4&neLong=13.6", "swLat"),
        (f"{BOX}&precision=0", "precision"),
        (f"{BOX}&precision=13", "precision"),
        (f"{BOX}&precision=x", "precision"),
        ("swLat=nan&swLong=13.2&neLat=52.4&neLong=13.6", "swLat"),
    ],
)
async def test_bad_cluster_queries_are_refused(
    client: Client, auth: Callable[..., dict[str, str]], query: str, field: str
) -> None:
    response = await client.get(f"/v1/vendors/clusters?{query}", headers=auth("alice"))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["details"]["errors"]]
