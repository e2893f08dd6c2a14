"""A whole ``Venta`` on a Redis Cluster, chosen by configuration only (``VENTA_REDIS_URL`` with
the ``redis+cluster://`` scheme), with the test PostgreSQL: the HTTP gateway serves a vendor's
location update and a box query, and a fresh process refills its geo index from the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.backends import RUN_PREFIX
from venta_core.app import Venta
from venta_core.ports.redis_conn import RedisConnection
from venta_core.settings import Settings
from venta_core.testing import truncate_all
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

BOX = "/v1/vendors/nearby?swLat=52.4&swLong=13.3&neLat=52.6&neLong=13.5"


def cluster_settings(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, cluster_url: str, prefix: str
) -> Settings:
    """Settings read from the environment, as a deployment sets them."""
    monkeypatch.setenv("VENTA_DATABASE_URL", postgres_url)
    monkeypatch.setenv("VENTA_DATABASE_AUTO_MIGRATE", "false")
    monkeypatch.setenv("VENTA_REDIS_URL", cluster_url)
    monkeypatch.setenv("VENTA_KEY_PREFIX", prefix)
    return Settings(_env_file=None)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
    async with Venta(settings, load_entry_points=False) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
            yield app, client


def auth(app: Venta, subject: str) -> dict[str, str]:
    token = app.identity.issue(subject)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


async def delete_keys(url: str, prefix: str) -> None:
    conn = RedisConnection(url)
    await conn.start()
    try:
        patterns = (f"{prefix}:*", f"{{{prefix}:*")
        keys = [k for p in patterns async for k in conn.client.scan_iter(match=p, count=1000)]
        if keys:
            await conn.client.unlink(*keys)
    finally:
        await conn.stop()


async def test_an_app_on_a_redis_cluster_serves_locations_and_box_queries(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, redis_cluster_url: str
) -> None:
    prefixes = [f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}" for _ in range(2)]
    first = cluster_settings(monkeypatch, postgres_url, redis_cluster_url, prefixes[0])
    try:
        truncating = Venta(first, load_entry_points=False)
        await truncating.database.start()
        await truncate_all(truncating)
        await truncating.database.stop()

        async with serving(first) as (app, client):
            assert app.geo.__class__.__name__ == "RedisGeoIndex"
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["redis"] == "ok"
            alice = auth(app, "alice")
            created = await client.post("/v1/vendors", json={"name": "Taco"}, headers=alice)
            assert created.status_code == 201, created.text
            vendor_id = created.json()["id"]
            for lat, long in ((48.85, 2.35), (52.52, 13.405)):  # from Paris to Berlin
                put = await client.put(
                    f"/v1/vendors/{vendor_id}/location",
                    json={"lat": lat, "long": long},
                    headers=alice,
                )
                assert put.status_code == 200, put.text
            box = await client.get(BOX, headers=alice)
            assert box.status_code == 200, box.text
            assert [v["id"] for v in box.json()["vendors"]] == [vendor_id]
            paris = "/v1/vendors/nearby?swLat=48.5&swLong=2.0&neLat=49.0&neLong=2.5"
            assert (await client.get(paris, headers=alice)).json()["vendors"] == []

        # A new deployment's empty index (another key prefix) is refilled from PostgreSQL.
        second = cluster_settings(monkeypatch, postgres_url, redis_cluster_url, prefixes[1])
        async with serving(second) as (app, client):
            assert await app.geo.count() == 1
            box = await client.get(BOX, headers=auth(app, "bob"))
            assert [v["id"] for v in box.json()["vendors"]] == [vendor_id]
    finally:
        for prefix in prefixes:
            await delete_keys(redis_cluster_url, prefix)
