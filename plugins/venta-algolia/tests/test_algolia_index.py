"""``AlgoliaSearchIndex`` against the local Algolia stub: the exact requests it makes and how
it reads the answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from venta_core.domain import Location, Vendor
from venta_core.errors import ServiceUnavailable
from venta_core.events import PoisonEvent, VendorMovedData
from venta_core.ports.search import SearchQuery
from venta_core.testing import closed_port

from algolia_stub import API_KEY, APP_ID, AlgoliaStub
from venta_algolia import AlgoliaSearchIndex, AlgoliaUnavailable
from venta_algolia.moves import MoveBatcher

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def vendor(vendor_id: str = "v1", **fields: Any) -> Vendor:
    values: dict[str, Any] = {
        "id": vendor_id,
        "owner_id": "u1",
        "name": "Churro Champion",
        "description": "Cinnamon sugar",
        "open": True,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Vendor(**values)


def moved(vendor_id: str, lat: float, long: float, at: datetime) -> VendorMovedData:
    return VendorMovedData(id=vendor_id, lat=lat, long=long, at=at)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def batches_of(*batches: Sequence[Vendor]) -> AsyncIterator[Sequence[Vendor]]:
    for batch in batches:
        yield batch


async def test_start_applies_the_index_settings(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    (call,) = stub.named("/1/indexes/vendors/settings", "PUT")

    assert call.body["searchableAttributes"] == ["name", "unordered(description)"]
    assert call.body["attributesForFaceting"] == ["filterOnly(open)", "filterOnly(ownerId)"]
    assert call.headers["x-algolia-application-id"] == APP_ID
    assert call.headers["x-algolia-api-key"] == API_KEY


async def test_upsert_writes_typed_records_keyed_by_vendor_id(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1", lat=0.0, long=13.405), vendor("v2", open=False)])

    (requests,) = stub.batches()
    assert [r["action"] for r in requests] == ["updateObject", "updateObject"]
    located, unlocated = (r["body"] for r in requests)
    assert located == {
        "objectID": "v1",
        "id": "v1",
        "ownerId": "u1",
        "name": "Churro Champion",
        "description": "Cinnamon sugar",
        "phone": None,
        "email": None,
        "website": None,
        "open": True,
        "primaryImage": None,
        "lat": 0.0,
        "long": 13.405,
        "createdAt": "2026-03-01T12:00:00Z",
        "updatedAt": "2026-03-01T12:00:00Z",
        "updatedAtMs": int(T0.timestamp() * 1000),
        "_geoloc": {"lat": 0.0, "lng": 13.405},
    }
    assert unlocated["objectID"] == "v2" and unlocated["open"] is False
    assert "_geoloc" not in unlocated and unlocated["lat"] is None


async def test_a_position_at_zero_zero_is_a_position(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor(lat=0.0, long=0.0)])

    assert stub.records["v1"]["_geoloc"] == {"lat": 0.0, "lng": 0.0}


async def test_an_older_document_never_replaces_a_newer_one(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    newer = vendor(name="Churro King", updated_at=T0 + timedelta(seconds=5))
    await index.upsert([newer])
    await index.upsert([vendor()])  # redelivered older event
    await index.upsert([newer])  # the same version again: idempotent

    assert stub.records["v1"]["name"] == "Churro King"
    assert len(stub.batches()) == 2
    (lookup, *_) = stub.named("/1/indexes/*/objects")
    assert lookup.body == {
        "requests": [
            {
                "indexName": "vendors",
                "objectID": "v1",
                "attributesToRetrieve": ["updatedAtMs", "geolocAtMs", "_geoloc", "lat", "long"],
            }
        ]
    }


async def test_within_one_batch_the_newest_version_of_a_vendor_wins(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor(name="B", updated_at=T0 + timedelta(1)), vendor(name="A")])

    (requests,) = stub.batches()
    assert [r["body"]["name"] for r in requests] == ["B"]


async def test_delete_sends_delete_actions_and_is_remembered(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1"), vendor("v2")])
    await index.delete(["v1", "v1", "v3"])
    await index.upsert([vendor("v1", updated_at=T0 + timedelta(1))])  # late event

    assert stub.batches()[1] == [
        {"action": "deleteObject", "body": {"objectID": "v1"}},
        {"action": "deleteObject", "body": {"objectID": "v3"}},
    ]
    assert len(stub.batches()) == 2
    assert set(stub.records) == {"v2"}
    assert await index.get("v1") is None


async def test_clear_forgets_deletions(index: AlgoliaSearchIndex, stub: AlgoliaStub) -> None:
    await index.upsert([vendor("v1")])
    await index.delete(["v1"])
    await index.clear()
    await index.upsert([vendor("v1")])

    assert stub.named("/1/indexes/vendors/clear")
    assert set(stub.records) == {"v1"}


async def test_search_maps_the_query_to_algolia_parameters(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor(f"v{i}", lat=52.52, long=13.405 + i / 1000) for i in range(7)])
    query = SearchQuery(
        "Churro, -cinn*", center=Location(lat=52.52, long=13.405), radius_m=999.5, page=2, limit=5
    )

    page = await index.search(query)

    (call,) = stub.named("/1/indexes/vendors/query")
    assert call.body == {
        "query": "churro cinn",
        "page": 1,
        "hitsPerPage": 5,
        "attributesToHighlight": [],
        "attributesToSnippet": [],
        "aroundLatLng": "52.52, 13.405",
        "aroundRadius": 1000,
    }
    assert (page.page, page.limit, page.total) == (2, 5, 7)
    assert [hit.vendor.id for hit in page.hits] == ["v5", "v6"]
    assert page.hits[0].distance_m == pytest.approx(338.4, abs=1)
    assert page.hits[0].vendor.open is True and page.hits[0].vendor.lat == 52.52


async def test_search_without_geo_has_no_distance(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor()])

    page = await index.search(SearchQuery("cinnamon"))

    assert "aroundLatLng" not in stub.named("/query")[0].body
    assert [(hit.vendor.id, hit.distance_m) for hit in page.hits] == [("v1", None)]


async def test_get_and_count(index: AlgoliaSearchIndex, stub: AlgoliaStub) -> None:
    await index.upsert([vendor("v1"), vendor("v2", lat=1.5, long=-2.0)])

    got = await index.get("v2")

    assert got == vendor("v2", lat=1.5, long=-2.0)
    assert await index.get("nope") is None
    assert await index.count() == 2


async def test_reindex_removes_records_no_batch_held(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("gone"), vendor("kept")])
    stub.records["new"] = {"objectID": "new", "updatedAtMs": 2**52}  # written meanwhile

    written = await index.reindex(batches_of([vendor("kept")], [vendor("other")]))

    assert written == 2
    assert set(stub.records) == {"kept", "other", "new"}
    assert stub.batches()[-1] == [{"action": "deleteObject", "body": {"objectID": "gone"}}]


async def test_a_failed_write_is_retryable_and_the_next_attempt_reaches_algolia(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    stub.fail_writes = 1

    with pytest.raises(AlgoliaUnavailable) as failed:
        await index.upsert([vendor()])
    await index.upsert([vendor()])  # the worker's redelivery

    assert isinstance(failed.value, ServiceUnavailable)
    assert not isinstance(failed.value, PoisonEvent)  # the worker retries it
    assert failed.value.code == "SERVICE_UNAVAILABLE"
    assert "v1" in stub.records


async def test_algolia_down_raises_service_unavailable_and_never_logs_the_key(
    stub: AlgoliaStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    search = AlgoliaSearchIndex(stub.settings_for(hosts=[f"http://127.0.0.1:{closed_port()}"]))
    await search.start()  # does not raise: the settings are applied before the next write
    try:
        with pytest.raises(AlgoliaUnavailable):
            await search.search(SearchQuery("taco"))
        with pytest.raises(AlgoliaUnavailable):
            await search.upsert([vendor()])
        with pytest.raises(AlgoliaUnavailable):
            await search.check()
    finally:
        await search.stop()

    assert "algolia search failed" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(stub.settings_for())


async def test_a_503_from_algolia_is_service_unavailable(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    stub.down = True

    with pytest.raises(AlgoliaUnavailable):
        await index.search(SearchQuery("taco"))
    stub.down = False
    assert (await index.search(SearchQuery("taco"))).total == 0  # back at once


async def test_move_partially_updates_the_position_of_an_indexed_vendor(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1", lat=1.0, long=2.0)])
    at = T0 + timedelta(minutes=5)

    await index.move([moved("v1", 52.52, 13.405, at)])

    assert stub.named("/1/indexes/*/objects")[-1].body == {
        "requests": [
            {"indexName": "vendors", "objectID": "v1", "attributesToRetrieve": ["geolocAtMs"]}
        ]
    }
    assert stub.batches()[-1] == [
        {
            "action": "partialUpdateObjectNoCreate",
            "body": {
                "objectID": "v1",
                "lat": 52.52,
                "long": 13.405,
                "_geoloc": {"lat": 52.52, "lng": 13.405},
                "geolocAtMs": ms(at),
            },
        }
    ]
    record = stub.records["v1"]
    assert record["name"] == "Churro Champion" and record["updatedAtMs"] == ms(T0)
    assert await index.get("v1") == vendor("v1", lat=52.52, long=13.405)
    page = await index.search(
        SearchQuery("churro", center=Location(lat=52.5201, long=13.405), radius_m=50)
    )
    assert [hit.vendor.id for hit in page.hits] == ["v1"]
    assert page.hits[0].distance_m == pytest.approx(11.1, abs=0.5)


async def test_an_older_position_never_replaces_a_newer_one(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1")])
    newer = moved("v1", 2.0, 2.0, T0 + timedelta(minutes=2))

    await index.move([newer])
    await index.move([moved("v1", 1.0, 1.0, T0 + timedelta(minutes=1))])  # late
    await index.move([newer])  # redelivered: the same again

    assert stub.records["v1"]["_geoloc"] == {"lat": 2.0, "lng": 2.0}
    assert len(stub.batches()) == 3  # the upsert, the newer position twice


async def test_within_one_call_the_newest_position_of_a_vendor_wins(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1"), vendor("v2")])

    await index.move(
        [
            moved("v1", 2.0, 2.0, T0 + timedelta(seconds=2)),
            moved("v1", 1.0, 1.0, T0 + timedelta(seconds=1)),
            moved("v2", 3.0, 3.0, T0),
        ]
    )

    lookup = stub.named("/1/indexes/*/objects")[-1]
    assert [r["objectID"] for r in lookup.body["requests"]] == ["v1", "v2"]
    assert [(r["body"]["objectID"], r["body"]["lat"]) for r in stub.batches()[-1]] == [
        ("v1", 2.0),
        ("v2", 3.0),
    ]


async def test_move_never_creates_or_revives_a_record(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1")])
    await index.delete(["v1"])
    writes = len(stub.batches())

    await index.move([moved("v1", 1.0, 1.0, T0 + timedelta(1))])  # deleted: remembered
    await index.move([moved("never-indexed", 1.0, 1.0, T0)])  # not in the index

    assert len(stub.batches()) == writes
    assert stub.records == {}
    assert [r["objectID"] for c in stub.named("/objects") for r in c.body["requests"]] == [
        "v1",  # the upsert's lookup; the deleted vendor is not even looked up
        "never-indexed",
    ]


async def test_a_newer_document_brings_its_position_and_keeps_the_position_time(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1", lat=1.0, long=1.0)])
    at = T0 + timedelta(seconds=10)
    await index.move([moved("v1", 2.0, 2.0, at)])

    # A profile change after that position: its document holds the position stored then.
    document = vendor("v1", name="B", lat=2.5, long=2.5, updated_at=T0 + timedelta(days=1))
    await index.upsert([document])
    record = stub.records["v1"]
    assert (record["name"], record["_geoloc"]) == ("B", {"lat": 2.5, "lng": 2.5})
    assert record["geolocAtMs"] == ms(at)

    await index.move([moved("v1", 3.0, 3.0, T0 + timedelta(seconds=5))])  # older than applied
    assert stub.records["v1"]["lat"] == 2.5
    await index.move([moved("v1", 4.0, 4.0, T0 + timedelta(days=1, seconds=1))])
    assert stub.records["v1"]["_geoloc"] == {"lat": 4.0, "lng": 4.0}


async def test_an_upsert_older_than_a_moved_position_keeps_that_position(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1", lat=1.0, long=1.0)])
    at = T0 + timedelta(minutes=10)
    await index.move([moved("v1", 2.0, 2.0, at)])

    # A profile change read before that position was stored, handled after it (the search
    # sync and the position handler are separate consumers, each at its own pace).
    document = vendor("v1", name="B", lat=1.0, long=1.0, updated_at=T0 + timedelta(seconds=5))
    await index.upsert([document])

    record = stub.records["v1"]
    assert record["name"] == "B"
    assert (record["lat"], record["long"], record["_geoloc"]) == (
        2.0,
        2.0,
        {"lat": 2.0, "lng": 2.0},
    )
    assert record["geolocAtMs"] == ms(at)


async def test_positions_handled_together_are_written_in_one_batch(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor(f"v{i}") for i in range(5)])
    batcher = MoveBatcher(index, linger=0.05)

    await asyncio.gather(*(batcher.submit(moved(f"v{i}", i, i, T0)) for i in range(5)))

    assert batcher.batches == 1
    (requests,) = stub.batches()[1:]
    assert sorted(r["body"]["objectID"] for r in requests) == [f"v{i}" for i in range(5)]


async def test_a_failed_batch_fails_each_of_its_events(
    index: AlgoliaSearchIndex, stub: AlgoliaStub
) -> None:
    await index.upsert([vendor("v1"), vendor("v2")])
    batcher = MoveBatcher(index, linger=0.05)
    stub.fail_writes = 1

    results = await asyncio.gather(
        batcher.submit(moved("v1", 1.0, 1.0, T0)),
        batcher.submit(moved("v2", 1.0, 1.0, T0)),
        return_exceptions=True,
    )
    await batcher.submit(moved("v1", 1.0, 1.0, T0))  # a redelivery

    assert [type(r) for r in results] == [AlgoliaUnavailable, AlgoliaUnavailable]
    assert stub.records["v1"]["_geoloc"] == {"lat": 1.0, "lng": 1.0}
    assert "_geoloc" not in stub.records["v2"]
