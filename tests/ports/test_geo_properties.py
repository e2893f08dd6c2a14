"""Property-based tests of every geo index (memory, Redis, Redis Cluster) at numeric edges.

Whatever the coordinates (poles, the antimeridian, exactly +-90 / +-180, subnormal and tiny
values, negative zero), a circle query answers exactly the members within its radius and a box
query exactly the members ``BoundingBox.contains``, both judged on the stored positions
(latitudes clamped to +-``MAX_LAT``, see ``storable``).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.properties import PROPERTY, boxes, locations, radii
from venta_core.domain.cells import cells_covering, encode
from venta_core.domain.geo import BoundingBox, Location, haversine_raw
from venta_core.ports.geo import GeoHit, GeoIndex
from venta_core.ports.geo_memory import storable

from .helpers import bbox

Points = dict[str, tuple[float, float]]

_places = st.lists(locations(), min_size=1, max_size=12)


async def _fill(geo: GeoIndex, places: list[Location]) -> Points:
    await geo.clear()
    points: Points = {}
    for n, place in enumerate(places):
        member = f"m{n}"
        await geo.set(member, place.lat, place.long)
        points[member] = storable(place.lat, place.long)
    return points


def _check_distances(hits: list[GeoHit], points: Points, center: Location) -> None:
    """Distances are from ``center`` to the stored position (Redis returns positions to within
    about 0.3 m) and come nearest first."""
    for hit in hits:
        exact = haversine_raw(center.lat, center.long, *points[hit.member])
        assert hit.distance_m == pytest.approx(exact, abs=1.0)
    distances = [hit.distance_m or 0.0 for hit in hits]
    assert all(a <= b + 1.0 for a, b in itertools.pairwise(distances))


@PROPERTY
@given(places=_places, center=locations(), radius=radii(2_000_000.0))
@example(
    places=[Location(lat=1e-200, long=0), Location(lat=5e-324, long=-0.0)],
    center=Location(lat=0, long=0),
    radius=1.0,
)
@example(
    places=[Location(lat=90, long=180), Location(lat=89.9, long=-180), Location(lat=85, long=0)],
    center=Location(lat=90, long=0),
    radius=600_000.0,
)
@example(
    places=[Location(lat=0, long=-180), Location(lat=0, long=179.99999), Location(lat=0, long=0)],
    center=Location(lat=-0.0, long=180),
    radius=2.0,
)
async def test_a_circle_finds_exactly_the_members_within_its_radius(
    geo: GeoIndex, places: list[Location], center: Location, radius: float
) -> None:
    points = await _fill(geo, places)

    hits = await geo.near(center, radius, len(points))

    expected = {
        m for m, p in points.items() if haversine_raw(center.lat, center.long, *p) <= radius
    }
    assert {hit.member for hit in hits} == expected
    _check_distances(hits, points, center)


@PROPERTY
@given(places=_places, box=boxes())
@example(  # a box of no width on the antimeridian, given with either sign
    places=[Location(lat=1e-7, long=180), Location(lat=0, long=-180), Location(lat=0, long=0)],
    box=bbox(0, 180, 1, 180),
)
@example(
    places=[Location(lat=-5e-324, long=0), Location(lat=-5e-324, long=180)],
    box=bbox(-90, -180, -5e-324, 180),
)
@example(  # crossing the antimeridian
    places=[Location(lat=10, long=175), Location(lat=10, long=-175), Location(lat=10, long=0)],
    box=bbox(0, 170, 20, -170),
)
async def test_a_box_finds_exactly_the_members_it_contains(
    geo: GeoIndex, places: list[Location], box: BoundingBox
) -> None:
    points = await _fill(geo, places)

    hits = await geo.in_box(box, len(points))

    assert {hit.member for hit in hits} == {m for m, p in points.items() if box.contains(*p)}
    _check_distances(hits, points, box.center)


@PROPERTY
@given(box=boxes(), precision=st.integers(1, 6), t=st.floats(0, 1), u=st.floats(0, 1))
@example(box=bbox(0, 180, 1, 180), precision=3, t=0.5, u=0.5)  # no width, on the antimeridian
@example(box=bbox(-1, -1, -5e-324, 1), precision=3, t=1.0, u=0.5)  # rounds onto the equator
def test_every_position_in_a_box_lies_in_a_cell_covering_it(
    box: BoundingBox, precision: int, t: float, u: float
) -> None:
    """``encode`` and ``cells_covering`` round alike: the region (or live-subject cell) of a
    position on a box's edge is among the cells the box's parts cover."""
    s, w, n, e = box.parts()[0]
    inner = (min(n, max(s, s + (n - s) * t)), min(e, max(w, w + (e - w) * u)))
    points = [(s, w), (s, e), (n, w), (n, e), inner]
    covered: set[str] = set()
    for part in box.parts():
        cells = cells_covering(*part, precision)
        if cells is None:
            return  # too many cells to list: the caller falls back to the known regions
        covered.update(cells)
    for lat, long in points:
        assert encode(lat, long, precision) in covered, (lat, long)
