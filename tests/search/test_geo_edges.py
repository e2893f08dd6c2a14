"""The geo filter of the search index at numeric edges: tiny and subnormal coordinates, negative
zero, the poles and the antimeridian, on SQLite and PostgreSQL (whose float arithmetic raises
"value out of range: underflow" where Python's quietly rounds to zero)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import example, given
from hypothesis import strategies as st

from tests.properties import PROPERTY, latitudes, locations, longitudes, radii
from venta_core.app import Venta
from venta_core.domain import Actor, Location, VendorCreate
from venta_core.domain.geo import haversine_raw
from venta_core.ports.identity import DevTokenProvider
from venta_core.ports.search import SearchQuery
from venta_core.store.tables import vendors
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

#: Members this close (relative) to the radius may be judged either way: SQL and Python round
#: the distance differently in its last bits.
_EDGE = 1e-9


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


async def test_a_vendor_at_a_tiny_latitude_leaves_circle_searches_working(
    app: Venta, client: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {DevTokenProvider(app.settings.auth).issue('alice')}"}
    created = await client.post("/v1/vendors", json={"name": "Tiny Tamales"}, headers=headers)
    vendor_id = created.json()["id"]
    put = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 1e-200, "long": 0.0}, headers=headers
    )
    assert put.status_code == 200, put.text
    await app.vendor_positions.flush()
    await app.search_index.upsert([await app.vendors.get_vendor(vendor_id)])

    found = await client.get(
        "/v1/search/vendors?q=tamales&lat=0&long=0&radius=1000", headers=headers
    )

    assert found.status_code == 200, found.text
    body = found.json()
    assert body["total"] == 1
    (hit,) = body["hits"]
    assert hit["id"] == vendor_id and hit["lat"] == 1e-200 and hit["distance"] == 0


@pytest.fixture
async def stalls(app: Venta) -> list[str]:
    """Six indexed vendors whose positions each example sets."""
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    ids = []
    for n in range(6):
        vendor = await app.vendors.create_vendor(owner, VendorCreate(name=f"Edge Stall {n}"))
        await app.search_index.upsert([vendor])
        ids.append(vendor.id)
    return ids


async def _place(app: Venta, positions: dict[str, Location | None]) -> None:
    rows = [
        {"vid": vid, "la": p.lat if p else None, "lo": p.long if p else None}
        for vid, p in positions.items()
    ]
    stmt = (
        vendors.update()
        .where(vendors.c.id == sa.bindparam("vid"))
        .values(lat=sa.bindparam("la"), long=sa.bindparam("lo"))
    )
    async with app.database.begin() as conn:
        await conn.execute(stmt, rows)


@PROPERTY
@given(
    places=st.lists(st.one_of(st.none(), locations()), min_size=6, max_size=6),
    center=locations(),
    radius=radii(),
)
@example(  # across the north pole: every longitude is within a few metres
    places=[Location(lat=89.99999, long=180), Location(lat=90, long=-37.5), None, None, None, None],
    center=Location(lat=89.99999, long=0),
    radius=10.0,
)
@example(  # across the antimeridian
    places=[Location(lat=0, long=-180), Location(lat=1e-5, long=179.99999), *[None] * 4],
    center=Location(lat=0, long=180),
    radius=5.0,
)
async def test_the_geo_filter_finds_exactly_the_vendors_within_the_radius(
    app: Venta,
    stalls: list[str],
    places: list[Location | None],
    center: Location,
    radius: float,
) -> None:
    positions = dict(zip(stalls, places, strict=True))
    await _place(app, positions)

    page = await app.search_index.search(
        SearchQuery("edge stall", center=center, radius_m=radius, limit=10)
    )

    got = {hit.vendor.id: hit.distance_m for hit in page.hits}
    for vid, p in positions.items():
        if p is None:
            assert vid not in got
            continue
        distance = haversine_raw(center.lat, center.long, p.lat, p.long)
        if abs(distance - radius) <= _EDGE * radius + 1e-9:
            continue  # on the edge: either answer is right
        assert (vid in got) == (distance < radius), (p, distance)
        if vid in got:
            assert got[vid] == pytest.approx(distance, rel=1e-6, abs=1e-6)
    assert page.total == len(got)


@PROPERTY
@given(lat=latitudes(), long=longitudes(), radius=radii())
async def test_a_circle_search_at_any_centre_answers(
    app: Venta, stalls: list[str], lat: float, long: float, radius: float
) -> None:
    """Every stall at a tiny or polar position, then a search at any centre."""
    tiny = [Location(lat=5e-324, long=-0.0), Location(lat=1e-200, long=1e-200)]
    polar = [Location(lat=90, long=180), Location(lat=-90, long=-180)]
    awkward = [Location(lat=-0.0, long=180), Location(lat=1e-300, long=-180)]
    await _place(app, dict(zip(stalls, tiny + polar + awkward, strict=True)))

    page = await app.search_index.search(
        SearchQuery("edge", center=Location(lat=lat, long=long), radius_m=radius, limit=10)
    )

    assert page.total == len(page.hits) <= 6
