"""The gateway on a real, started ``Venta`` (embedded: SQLite file, in-process ports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.http_fakes import assert_error
from venta_core.app import Venta
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
    settings = embedded_settings(tmp_path / "t.db", rate_limit={"per_identity": 50})
    async with Venta(settings, load_entry_points=False) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
            yield app, client


def _auth(app: Venta, subject: str) -> dict[str, str]:
    token = app.identity.issue(subject)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> str:
    response = await client.post("/v1/vendors", json={"name": "Taco", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    vendor_id: str = response.json()["id"]
    return vendor_id


async def test_vendor_lifecycle(real):
    app, client = real
    alice, bob = _auth(app, "alice"), _auth(app, "bob")
    vendor_id = await _create(client, alice, description="Tacos", phone="+49 30 123")

    updated = await client.put(
        f"/v1/vendors/{vendor_id}", json={"open": True, "phone": None}, headers=alice
    )
    forbidden = await client.put(f"/v1/vendors/{vendor_id}", json={"name": "B"}, headers=bob)
    vendor = (await client.get(f"/v1/vendors/{vendor_id}", headers=bob)).json()

    assert updated.status_code == 200
    assert_error(forbidden, 403, "FORBIDDEN")
    assert vendor["name"] == "Taco" and vendor["open"] is True
    assert vendor["phone"] is None and vendor["description"] == "Tacos"
    assert vendor["createdAt"].endswith("Z") and vendor["updatedAt"].endswith("Z")
    mine = (await client.get("/v1/me/vendors", headers=alice)).json()
    assert mine == [{"id": vendor_id, "name": "Taco"}]
    assert (await client.get("/user/vendors", headers=alice)).json() == {"vendors": mine}
    assert (await client.get(f"/vendor/{vendor_id}", headers=alice)).json() == {"vendor": vendor}

    assert_error(await client.delete(f"/v1/vendors/{vendor_id}", headers=bob), 403, "FORBIDDEN")
    assert (await client.delete(f"/v1/vendors/{vendor_id}", headers=alice)).status_code == 204
    gone = await client.get(f"/v1/vendors/{vendor_id}", headers=alice)
    assert_error(gone, 404, "VENDOR_NOT_FOUND")


async def test_locations_and_nearby(real):
    app, client = real
    alice = _auth(app, "alice")
    near, far = await _create(client, alice), await _create(client, alice)
    assert_error(
        await client.get(f"/v1/vendors/{near}/location", headers=alice), 404, "LOCATION_NOT_FOUND"
    )
    for vendor_id, (lat, long) in ((near, (52.52, 13.405)), (far, (48.85, 2.35))):
        put = await client.put(
            f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": long}, headers=alice
        )
        assert put.status_code == 200, put.text
        assert put.json()["location"] == {"lat": lat, "long": long}

    got = (await client.get(f"/v1/vendors/{near}/location", headers=alice)).json()
    box = await client.get(
        "/v1/vendors/nearby?swLat=52&swLong=13&neLat=53&neLong=14", headers=alice
    )
    circle = await client.get("/v1/vendors/nearby?lat=52.52&long=13.4&radius=2000", headers=alice)

    assert got["id"] == near and got["location"]["lat"] == pytest.approx(52.52, abs=1e-5)
    assert [v["id"] for v in box.json()["vendors"]] == [near]
    assert "distance" not in box.json()["vendors"][0]
    assert [v["id"] for v in circle.json()["vendors"]] == [near]
    assert 0 <= circle.json()["vendors"][0]["distance"] < 2000


async def test_operations(real):
    app, client = real
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"].values()) == {"ok"}
    await client.get("/v1/me", headers=_auth(app, "alice"))
    metrics = (await client.get("/metrics")).text
    assert 'venta_http_requests_total{method="GET",route="/v1/me",status="200"} 1.0' in metrics


async def test_identity_rate_limit_on_the_real_kv(tmp_path):
    settings = embedded_settings(tmp_path / "t.db", rate_limit={"per_identity": 2})
    async with Venta(settings, load_entry_points=False) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        headers = _auth(app, "alice")
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            codes = [(await client.get("/v1/me", headers=headers)).status_code for _ in range(3)]
            limited = await client.get("/v1/me", headers=headers)
    assert codes == [200, 200, 429]
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1
