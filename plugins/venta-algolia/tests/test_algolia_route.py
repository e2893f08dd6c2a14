"""End to end through a real ``Venta`` with its worker: vendor events feed the Algolia stub
through the built-in search sync, and ``GET /v1/search/vendors`` answers from Algolia."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from venta_core.app import Venta
from venta_core.builtins.search import DatabaseSearchIndex
from venta_core.testing import closed_port

from algolia_stub import API_KEY, AlgoliaStub
from venta_algolia import AlgoliaSearchIndex, AlgoliaSettings

ROUTE = "/v1/search/vendors"
Bearer = Callable[[str], dict[str, str]]
AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def test_the_plugin_replaces_the_built_in_index_only_when_configured(
    make_app: AppFactory, algolia_settings: AlgoliaSettings
) -> None:
    async with make_app(algolia_settings) as (app, _):
        assert isinstance(app.search_index, AlgoliaSearchIndex)
    async with make_app(AlgoliaSettings(_env_file=None)) as (app, _):
        assert isinstance(app.search_index, DatabaseSearchIndex)
    with pytest.raises(ValueError, match="VENTA_ALGOLIA_API_KEY"):
        async with make_app(AlgoliaSettings(_env_file=None, app_id="X")):
            pass


async def test_vendor_events_feed_algolia_and_the_route_reads_it(
    make_app: AppFactory,
    algolia_settings: AlgoliaSettings,
    stub: AlgoliaStub,
    bearer: Bearer,
) -> None:
    alice = bearer("alice")
    async with make_app(algolia_settings) as (app, client):
        created = await client.post(
            "/v1/vendors",
            json={"name": "Churro Champion", "description": "Cinnamon sugar"},
            headers=alice,
        )
        vendor_id = created.json()["id"]
        await wait_until(lambda: vendor_id in stub.records)
        assert stub.records[vendor_id]["objectID"] == vendor_id
        assert stub.records[vendor_id]["open"] is False and "_geoloc" not in stub.records[vendor_id]

        put = await client.put(
            f"/v1/vendors/{vendor_id}/location", json={"lat": 0.0, "long": 0.0}, headers=alice
        )
        assert put.status_code == 200
        await app.vendor_positions.flush()
        await client.put(f"/v1/vendors/{vendor_id}", json={"open": True}, headers=alice)
        await wait_until(lambda: stub.records[vendor_id]["open"] is True)
        assert stub.records[vendor_id]["_geoloc"] == {"lat": 0.0, "lng": 0.0}

        found = await client.get(f"{ROUTE}?q=cinnamon%20churr&limit=5", headers=alice)
        near = await client.get(f"{ROUTE}?q=churro&lat=0.001&long=0&radius=500", headers=alice)
        far = await client.get(f"{ROUTE}?q=churro&lat=48.1&long=11.5&radius=1000", headers=alice)
        deep = await client.get(f"{ROUTE}?q=churro&page=3&limit=2", headers=alice)

        body = found.json()
        assert found.status_code == 200
        assert (body["page"], body["limit"], body["total"]) == (1, 5, 1)
        (hit,) = body["hits"]
        assert hit["id"] == vendor_id and hit["open"] is True and "distance" not in hit
        assert near.json()["hits"][0]["distance"] == pytest.approx(111.2, abs=0.5)
        assert far.json() == {"hits": [], "page": 1, "limit": 20, "total": 0}
        assert deep.json() == {"hits": [], "page": 3, "limit": 2, "total": 1}
        queries = [c.body for c in stub.named("/1/indexes/vendors/query")]
        assert queries[1]["aroundLatLng"] == "0.001, 0.0" and queries[1]["aroundRadius"] == 500
        assert (queries[3]["page"], queries[3]["hitsPerPage"]) == (2, 2)

        deleted = await client.delete(f"/v1/vendors/{vendor_id}", headers=alice)
        assert deleted.status_code == 204
        await wait_until(lambda: vendor_id not in stub.records)
        assert stub.batches()[-1] == [{"action": "deleteObject", "body": {"objectID": vendor_id}}]


async def test_algolia_down_answers_503_service_unavailable(
    make_app: AppFactory,
    stub: AlgoliaStub,
    bearer: Bearer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = stub.settings_for(hosts=[f"http://127.0.0.1:{closed_port()}"])
    async with make_app(down) as (_, client):
        response = await client.get(f"{ROUTE}?q=taco", headers=bearer("alice"))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["message"] == "Vendor search is unavailable"
    assert "Traceback" not in response.text and API_KEY not in caplog.text


async def test_a_failed_upsert_is_redelivered_by_the_worker(
    make_app: AppFactory,
    algolia_settings: AlgoliaSettings,
    stub: AlgoliaStub,
    bearer: Bearer,
) -> None:
    stub.fail_writes = 2
    async with make_app(algolia_settings) as (_, client):
        created = await client.post("/v1/vendors", json={"name": "Taco Town"}, headers=bearer("bo"))
        vendor_id = created.json()["id"]
        await wait_until(lambda: vendor_id in stub.records)

    assert len(stub.named("/batch")) == 3  # two 503s, then the write


async def test_a_search_when_algolia_answers_503_is_503(
    make_app: AppFactory,
    algolia_settings: AlgoliaSettings,
    stub: AlgoliaStub,
    bearer: Bearer,
) -> None:
    async with make_app(algolia_settings) as (_, client):
        stub.down = True
        failed = await client.get(f"{ROUTE}?q=taco", headers=bearer("alice"))
        stub.down = False
        ok = await client.get(f"{ROUTE}?q=taco", headers=bearer("alice"))

    assert failed.status_code == 503 and failed.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert ok.status_code == 200 and ok.json()["total"] == 0


async def test_the_geoloc_handler_runs_only_with_the_algolia_index(
    make_app: AppFactory, algolia_settings: AlgoliaSettings
) -> None:
    async with make_app(algolia_settings) as (app, _):
        assert "algolia-geoloc" in {h.name for h in app.event_handlers()}
    async with make_app(AlgoliaSettings(_env_file=None)) as (app, _):
        assert "algolia-geoloc" not in {h.name for h in app.event_handlers()}


async def test_live_positions_reach_algolia_through_vendor_moved(
    make_app: AppFactory,
    algolia_settings: AlgoliaSettings,
    stub: AlgoliaStub,
    bearer: Bearer,
) -> None:
    alice = bearer("alice")
    async with make_app(algolia_settings) as (app, client):
        created = await client.post("/v1/vendors", json={"name": "Churro Champion"}, headers=alice)
        vendor_id = created.json()["id"]
        await wait_until(lambda: vendor_id in stub.records)
        version = stub.records[vendor_id]["updatedAtMs"]

        async def go(lat: float, long: float) -> None:
            put = await client.put(
                f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": long}, headers=alice
            )
            assert put.status_code == 200
            await app.vendor_positions.flush()

        def at(lat: float, long: float) -> Callable[[], bool]:
            return lambda: stub.records[vendor_id].get("_geoloc") == {"lat": lat, "lng": long}

        await go(52.52, 13.405)  # the first position: emitted at once
        await wait_until(at(52.52, 13.405))
        await go(52.50, 13.30)  # across town (7.5 km): emitted at the next flush
        await wait_until(at(52.50, 13.30))
        writes = len(stub.batches())
        await go(52.5001, 13.30)  # 11 m within the minute: waits for the interval
        await asyncio.sleep(0.3)

        assert len(stub.batches()) == writes
        assert at(52.50, 13.30)()
        record = stub.records[vendor_id]
        assert record["updatedAtMs"] == version and record["name"] == "Churro Champion"
        actions = [r["action"] for batch in stub.batches() for r in batch]
        assert actions == ["updateObject", *["partialUpdateObjectNoCreate"] * 2]
        near = await client.get(f"{ROUTE}?q=churro&lat=52.5&long=13.3&radius=100", headers=alice)
        (hit,) = near.json()["hits"]
        assert hit["id"] == vendor_id and (hit["lat"], hit["long"]) == (52.50, 13.30)
        assert hit["distance"] == pytest.approx(0, abs=0.5)
