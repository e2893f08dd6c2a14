"""The built-in search index over SQLite FTS5 and PostgreSQL full-text search: matching,
ranking, pages, the geo filter, idempotent and order-proof writes, reindex."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from venta_core.app import Venta
from venta_core.builtins.search import search_sync_handler
from venta_core.domain import Actor, Location, Vendor, VendorCreate
from venta_core.events import EventEnvelope, VendorDeletedData, VendorEventData
from venta_core.ports.search import SearchQuery, query_terms

pytestmark = pytest.mark.integration

BERLIN = Location(lat=52.52, long=13.405)


async def _vendor(
    app: Venta, name: str, description: str | None = None, at: Location | None = None
) -> Vendor:
    """A vendor row (with its last known position) and its document in the index."""
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    vendor = await app.vendors.create_vendor(
        owner, VendorCreate(name=name, description=description)
    )
    if at is not None:
        await app.locations.update_vendor_location(owner, vendor.id, at)
        await app.vendor_positions.flush()
        vendor = await app.vendors.get_vendor(vendor.id)
    await app.search_index.upsert([vendor])
    return vendor


async def _names(app: Venta, text: str, **query: object) -> list[str]:
    page = await app.search_index.search(SearchQuery(text, **query))  # type: ignore[arg-type]
    return [hit.vendor.name for hit in page.hits]


def _east_of(place: Location, metres: float) -> Location:
    return Location(lat=place.lat, long=place.long + metres / 67_800)  # ~m per degree at 52.5°


async def test_every_term_must_match_as_a_word_prefix(app: Venta) -> None:
    await _vendor(app, "Taco Truck", "Tacos al pastor")
    await _vendor(app, "Pizza Truck", "Wood-fired pizza")
    await _vendor(app, "Taco Bell-ish", "Fast food")

    assert await _names(app, "taco truck") == ["Taco Truck"]
    assert sorted(await _names(app, "TRU")) == ["Pizza Truck", "Taco Truck"]
    assert await _names(app, "wood fired") == ["Pizza Truck"]
    assert await _names(app, "burrito") == []


async def test_a_name_match_ranks_above_a_description_match(app: Venta) -> None:
    await _vendor(app, "Noodle Bar", "Hand-pulled ramen")
    await _vendor(app, "Ramen Van", "Broth all day")

    assert await _names(app, "ramen") == ["Ramen Van", "Noodle Bar"]


async def test_pages_and_total(app: Venta) -> None:
    for n in range(5):
        await _vendor(app, f"Crepe Cart {n}")

    pages = [
        await app.search_index.search(SearchQuery("crepe", page=p, limit=2)) for p in (1, 2, 3, 4)
    ]

    assert [len(p.hits) for p in pages] == [2, 2, 1, 0]
    assert {p.total for p in pages} == {5}
    ids = [h.vendor.id for p in pages for h in p.hits]
    assert len(set(ids)) == 5


async def test_the_geo_filter_keeps_vendors_within_the_radius(app: Venta) -> None:
    await _vendor(app, "Near Bratwurst", at=_east_of(BERLIN, 300))
    await _vendor(app, "Nearer Bratwurst", at=_east_of(BERLIN, 100))
    await _vendor(app, "Far Bratwurst", at=_east_of(BERLIN, 5_000))
    await _vendor(app, "Nowhere Bratwurst")  # no position

    page = await app.search_index.search(SearchQuery("bratwurst", center=BERLIN, radius_m=1_000))

    assert [h.vendor.name for h in page.hits] == ["Nearer Bratwurst", "Near Bratwurst"]
    assert page.total == 2
    distances = [h.distance_m for h in page.hits]
    assert distances[0] == pytest.approx(100, abs=2) and distances[1] == pytest.approx(300, abs=5)
    everywhere = await app.search_index.search(SearchQuery("bratwurst"))
    assert everywhere.total == 4 and {h.distance_m for h in everywhere.hits} == {None}


async def test_hits_carry_the_vendors_latest_position(app: Venta) -> None:
    vendor = await _vendor(app, "Roaming Risotto", at=BERLIN)
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    moved = _east_of(BERLIN, 2_000)
    await app.locations.update_vendor_location(owner, vendor.id, moved)
    await app.vendor_positions.flush()

    (hit,) = (await app.search_index.search(SearchQuery("risotto"))).hits

    assert (hit.vendor.lat, hit.vendor.long) == (moved.lat, moved.long)


async def test_an_older_document_never_replaces_a_newer_one(app: Venta) -> None:
    vendor = await _vendor(app, "Soup Stop")
    newer = vendor.model_copy(
        update={"name": "Stew Stop", "updated_at": vendor.updated_at + timedelta(seconds=1)}
    )

    await app.search_index.upsert([newer])
    await app.search_index.upsert([vendor])  # redelivered late
    await app.search_index.upsert([newer])  # and the newer one again

    assert await _names(app, "stop") == ["Stew Stop"]
    assert await app.search_index.count() == 1


async def test_a_deleted_vendor_stays_deleted(app: Venta) -> None:
    vendor = await _vendor(app, "Ghost Kitchen")

    await app.search_index.delete([vendor.id])
    await app.search_index.delete([vendor.id])
    later = vendor.model_copy(update={"updated_at": vendor.updated_at + timedelta(seconds=5)})
    await app.search_index.upsert([later])  # an update event that arrived after the delete

    assert await app.search_index.get(vendor.id) is None
    assert await app.search_index.count() == 0
    await app.search_index.delete(["never-indexed"])  # deleting the unknown is fine


async def test_a_batch_keeps_the_newest_of_each_vendor_in_one_write(app: Venta) -> None:
    """A worker's batch: several versions of a vendor in any order, a vendor indexed newer
    already, a deleted one, and new ones, all in one upsert."""
    soup, stew, ghost = [await _vendor(app, name) for name in ("Soup", "Stew", "Ghost")]
    await app.search_index.delete([ghost.id])
    later = timedelta(seconds=1)
    newest_soup = soup.model_copy(
        update={"name": "Soup Two", "updated_at": soup.updated_at + 2 * later}
    )
    newer_stew = stew.model_copy(update={"name": "Stew Two", "updated_at": stew.updated_at + later})
    await app.search_index.upsert([newer_stew])
    fresh = [soup.model_copy(update={"id": f"fresh-{n}", "name": f"Fresh {n}"}) for n in range(300)]
    batch = [
        soup.model_copy(update={"name": "Soup One", "updated_at": soup.updated_at + later}),
        newest_soup,
        stew,  # older than what is indexed
        ghost.model_copy(update={"updated_at": ghost.updated_at + later}),  # deleted before
        *fresh,
        soup,  # the oldest, last
    ]

    await app.search_index.upsert(batch)

    assert await _names(app, "soup") == ["Soup Two"]
    assert await _names(app, "stew") == ["Stew Two"]
    assert await app.search_index.get(ghost.id) is None
    assert [(await app.search_index.get(v.id)) for v in fresh] == fresh
    assert await app.search_index.count() == 302


async def test_overlapping_batches_written_at_once_wait_for_each_other(app: Venta) -> None:
    """Two workers writing batches of the same vendors in opposite orders (and a third
    deleting some) must not deadlock: PostgreSQL would fail one of them after a second."""
    base = await _vendor(app, "Base")
    ids = [str(uuid.uuid4()) for _ in range(200)]

    for round_ in range(1, 6):
        at = base.updated_at + timedelta(seconds=round_)
        docs = [
            base.model_copy(update={"id": i, "name": f"Cart {round_}", "updated_at": at})
            for i in ids
        ]
        await asyncio.gather(
            app.search_index.upsert(docs),
            app.search_index.upsert(docs[::-1]),
            app.search_index.delete(ids[150::-7] if round_ == 5 else []),
        )

    assert await app.search_index.count() == 1 + 200 - len(ids[150::-7])
    last = await app.search_index.get(ids[-1])
    assert last is not None and last.name == "Cart 5"
    assert await app.search_index.get(ids[150]) is None


async def test_reindex_rebuilds_from_the_database(app: Venta) -> None:
    from venta_core.builtins.search import reindex_vendors

    kept = await _vendor(app, "Kebab Kiosk")
    gone = await _vendor(app, "Gone Gyros")
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    await app.vendors.delete_vendor(owner, gone.id)  # its document is left behind
    unindexed = await app.vendors.create_vendor(owner, VendorCreate(name="Kebab Corner"))
    batches: list[int] = []

    indexed = await reindex_vendors(app, batches.append)

    assert indexed == 2 and sum(batches) == 2
    assert {await app.search_index.get(i) is not None for i in (kept.id, unindexed.id)} == {True}
    assert await app.search_index.get(gone.id) is None
    assert await app.search_index.count() == 2

    await app.search_index.clear()
    assert await app.search_index.count() == 0
    assert await reindex_vendors(app, clear=True) == 2


@pytest.mark.parametrize(
    "text", ["!!!", "taco' OR 1=1 --", '"*:&|!()', "AND OR NOT NEAR", "x" * 300]
)
async def test_operators_of_the_engines_are_never_passed_through(app: Venta, text: str) -> None:
    await _vendor(app, "Taco Truck")

    page = await app.search_index.search(SearchQuery(text))

    assert page.total in (0, 1)


def test_query_terms() -> None:
    assert query_terms("Crêpes & Café, 24/7!") == ["crêpes", "café", "24", "7"]
    assert query_terms("--") == []
    assert len(query_terms("a " * 50)) == 10


class _Recording:
    """The application's index, keeping the documents each ``upsert`` was given."""

    def __init__(self, index: object) -> None:
        self.index = index
        self.upserts: list[list[Vendor]] = []

    async def upsert(self, vendors: list[Vendor]) -> None:
        self.upserts.append(list(vendors))
        await self.index.upsert(vendors)  # type: ignore[attr-defined]

    async def delete(self, ids: list[str]) -> None:
        await self.index.delete(ids)  # type: ignore[attr-defined]


def _event(type_: str, vendor: Vendor, **changes: object) -> EventEnvelope:
    data = VendorEventData.model_validate(vendor.model_copy(update=changes).model_dump())
    return EventEnvelope.new(type_, data)


async def test_the_search_sync_builds_one_document_per_vendor_of_a_batch(app: Venta) -> None:
    """A burst of updates to a vendor in one batch, in any order, is one document: its
    newest; a deletion in the batch still wins over it."""
    soup, stew, ghost = [await _vendor(app, name) for name in ("Soup", "Stew", "Ghost")]
    later = timedelta(seconds=1)
    recording = _Recording(app.search_index)
    sync = search_sync_handler(lambda: recording)  # type: ignore[arg-type,return-value]
    assert sync.handle_batch is not None
    batch = [
        _event("vendor.updated", soup, name="Soup Two", updated_at=soup.updated_at + 2 * later),
        _event("vendor.updated", soup, name="Soup One", updated_at=soup.updated_at + later),
        _event("vendor.updated", stew, name="Stew One", updated_at=stew.updated_at + later),
        _event("vendor.updated", ghost, name="Ghost One", updated_at=ghost.updated_at + later),
        EventEnvelope.new("vendor.deleted", VendorDeletedData(id=ghost.id, owner_id="o")),
        _event("vendor.updated", soup, name="Soup Zero"),  # the oldest, last
    ]

    await sync.handle_batch(batch)

    (documents,) = recording.upserts
    assert sorted(v.name for v in documents) == ["Ghost One", "Soup Two", "Stew One"]
    assert await _names(app, "soup") == ["Soup Two"]
    assert await _names(app, "stew") == ["Stew One"]
    assert await app.search_index.get(ghost.id) is None
