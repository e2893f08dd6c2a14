"""The ``GeoIndex`` contract: what every geo index must do, whatever stores the positions.

Subclass ``GeoIndexContract`` in a test module and provide a ``geo`` fixture yielding a
started, empty index (and clearing it afterwards)::

    class TestMyGeoIndex(GeoIndexContract):
        @pytest.fixture
        async def geo(self) -> AsyncIterator[GeoIndex]:
            index = MyGeoIndex(...)
            await index.start()
            yield index
            await index.clear()
            await index.stop()

The helpers (``bbox``, ``expected_in_box``, ...) are shared with backend-specific tests.
"""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest

from venta_core.domain.cells import encode
from venta_core.domain.geo import EARTH_RADIUS_M, BoundingBox, Location, haversine_raw
from venta_core.ports.geo import GeoCluster, GeoHit, GeoIndex
from venta_core.ports.geo_memory import MAX_LAT

__all__ = [
    "JUST",
    "GeoIndexContract",
    "Points",
    "assert_clusters_like",
    "assert_ordered_from",
    "assert_ranked_like",
    "bbox",
    "clear_of_edges",
    "expected_clusters",
    "expected_in_box",
    "names",
    "north_of",
]

#: Far enough beyond an edge to be outside, close enough to test exact edge handling (~0.1 m).
JUST = 1e-6


def bbox(south: float, west: float, north: float, east: float) -> BoundingBox:
    return BoundingBox(sw=Location(lat=south, long=west), ne=Location(lat=north, long=east))


def names(hits: list[GeoHit]) -> list[str]:
    return [h.member for h in hits]


def north_of(lat: float, long: float, metres: float) -> tuple[float, float]:
    return lat + math.degrees(metres / EARTH_RADIUS_M), long


Points = dict[str, tuple[float, float]]


def expected_in_box(points: Points, box: BoundingBox, limit: int) -> list[str]:
    c = box.center
    inside = [
        (haversine_raw(c.lat, c.long, la, lo), m)
        for m, (la, lo) in points.items()
        if box.contains(la, lo)
    ]
    return [m for _, m in sorted(inside)[:limit]]


def expected_clusters(points: Points, box: BoundingBox, precision: int) -> list[GeoCluster]:
    """Brute force: the members inside ``box`` grouped by cell, with their centroid."""
    cells: dict[str, list[tuple[float, float]]] = {}
    for la, lo in points.values():
        if box.contains(la, lo):
            cells.setdefault(encode(la, lo, precision), []).append((la, lo))
    return [
        GeoCluster(cell, len(ps), sum(p[0] for p in ps) / len(ps), sum(p[1] for p in ps) / len(ps))
        for cell, ps in sorted(cells.items())
    ]


def clear_of_edges(points: Points, boxes: list[BoundingBox], precisions: tuple[int, ...]) -> Points:
    """``points`` without those lying within ~1 m of an edge of a box or of a cell of the
    precisions, which an index storing positions approximately may place on either side."""
    d = 1e-5

    def clear(la: float, lo: float) -> bool:
        near = [(la + a, lo + b) for a in (-d, d) for b in (-d, d)]
        return all(len({encode(x, y, p) for x, y in near}) == 1 for p in precisions) and all(
            len({b.contains(x, y) for x, y in near}) == 1 for b in boxes
        )

    return {m: p for m, p in points.items() if clear(*p)}


def assert_clusters_like(got: list[GeoCluster], want: list[GeoCluster]) -> None:
    """Same cells and counts; centroids equal to within Redis's precision (~0.3 m)."""
    assert [(c.cell, c.members) for c in got] == [(c.cell, c.members) for c in want]
    for g, w in zip(got, want, strict=True):
        assert g.lat == pytest.approx(w.lat, abs=1e-5)
        assert g.long == pytest.approx(w.long, abs=1e-5)


def assert_ranked_like(
    hits: list[GeoHit], expected: list[str], points: Points, c: Location
) -> None:
    """``hits`` rank like ``expected`` except that members less than a metre apart in distance
    may trade places (Redis returns positions to ~0.3 m)."""
    assert len(hits) == len(expected)
    for hit, want in zip(hits, expected, strict=True):
        got_d = haversine_raw(c.lat, c.long, *points[hit.member])
        want_d = haversine_raw(c.lat, c.long, *points[want])
        assert got_d == pytest.approx(want_d, abs=1.0), (hit.member, want)
    assert len(set(names(hits))) == len(hits)


def assert_ordered_from(hits: list[GeoHit], center: Location) -> None:
    distances = [h.distance_m for h in hits]
    assert all(d is not None for d in distances)
    assert distances == sorted(distances)  # type: ignore[type-var]
    for h in hits:
        assert h.distance_m == pytest.approx(
            haversine_raw(center.lat, center.long, h.lat, h.long), abs=0.01
        )


class GeoIndexContract:
    """The geo index contract; needs a ``geo`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    # -- writes and reads -----------------------------------------------------------------------

    async def test_set_get_count_remove(self, geo: GeoIndex) -> None:
        assert await geo.get("a") is None
        await geo.set("a", 52.52, 13.405)
        await geo.set("b", 52.53, 13.41)
        hit = await geo.get("a")
        assert hit is not None
        assert (hit.member, hit.lat, hit.long) == ("a", 52.52, 13.405)  # exact, as stored
        assert hit.distance_m is None
        assert await geo.count() == 2
        assert await geo.remove("a") is True
        assert await geo.remove("a") is False
        assert await geo.get("a") is None
        assert await geo.count() == 1
        assert names(await geo.in_box(bbox(52.0, 13.0, 53.0, 14.0), 10)) == ["b"]

    async def test_set_moves_member_within_region(self, geo: GeoIndex) -> None:
        await geo.set("a", 52.52, 13.40)
        await geo.set("a", 52.50, 13.30)
        assert await geo.count() == 1
        assert await geo.get("a") == GeoHit("a", 52.50, 13.30)
        assert await geo.in_box(bbox(52.51, 13.39, 52.53, 13.41), 10) == []
        assert names(await geo.in_box(bbox(52.49, 13.29, 52.51, 13.31), 10)) == ["a"]

    async def test_move_between_regions_leaves_no_stale_entry(self, geo: GeoIndex) -> None:
        berlin, paris = (52.52, 13.405), (48.8566, 2.3522)
        assert encode(*berlin, 3) != encode(*paris, 3)
        await geo.set("truck", *berlin)
        await geo.set("truck", *paris)
        assert await geo.count() == 1
        assert await geo.in_box(bbox(52.0, 13.0, 53.0, 14.0), 10) == []
        assert await geo.near(Location(lat=berlin[0], long=berlin[1]), 50_000, 10) == []
        assert names(await geo.in_box(bbox(48.5, 2.0, 49.0, 2.5), 10)) == ["truck"]
        await geo.set_many([("truck", *berlin)])
        assert await geo.in_box(bbox(48.5, 2.0, 49.0, 2.5), 10) == []
        assert names(await geo.near(Location(lat=berlin[0], long=berlin[1]), 1_000, 10)) == [
            "truck"
        ]

    async def test_set_many_last_position_wins(self, geo: GeoIndex) -> None:
        items = [(f"v{i}", 52.0 + i * 0.001, 13.0 + i * 0.001) for i in range(2500)]
        items.append(("v0", 48.8566, 2.3522))  # the same member again, in another region
        await geo.set_many(items)
        assert await geo.count() == 2500
        assert await geo.get("v0") == GeoHit("v0", 48.8566, 2.3522)
        assert await geo.in_box(bbox(51.9999, 12.9999, 52.0001, 13.0001), 10) == []
        assert len(await geo.in_box(bbox(51.0, 12.0, 56.0, 16.0), 5000)) == 2499

    async def test_concurrent_updates_end_at_each_members_last_position(
        self, geo: GeoIndex
    ) -> None:
        """Vendors streaming their positions at the same time (each awaits its own updates in
        turn), crossing regions on the way: each ends at its last position, in ``get`` and in
        queries, with no entry left behind."""
        rng = random.Random(11)
        towns = [(52.52, 13.405), (48.8566, 2.3522), (40.4168, -3.7038)]  # three regions
        tracks = {
            f"v{i}": [
                (lat + rng.uniform(-0.05, 0.05), long + rng.uniform(-0.05, 0.05))
                for lat, long in rng.choices(towns, k=6)
            ]
            for i in range(40)
        }

        async def stream(member: str, track: list[tuple[float, float]]) -> None:
            for lat, long in track:
                await geo.set(member, lat, long)

        await asyncio.gather(*(stream(m, track) for m, track in tracks.items()))
        last = {m: track[-1] for m, track in tracks.items()}
        assert await geo.count() == len(tracks)
        for m, (lat, long) in last.items():
            assert await geo.get(m) == GeoHit(m, lat, long)
        for lat, long in towns:
            box = bbox(lat - 0.1, long - 0.1, lat + 0.1, long + 0.1)
            assert sorted(names(await geo.in_box(box, 100))) == sorted(
                m for m, p in last.items() if box.contains(*p)
            )

    async def test_concurrent_updates_of_one_member_agree_everywhere(self, geo: GeoIndex) -> None:
        """Updates of one member started at once settle on one of them, which ``get``, the
        count and every query agree on."""
        towns = [(52.52, 13.405), (48.8566, 2.3522), (40.4168, -3.7038)]
        moves = [(towns[i % 3][0] + i * 1e-4, towns[i % 3][1]) for i in range(30)]
        for _ in range(3):
            await asyncio.gather(*(geo.set("t", lat, long) for lat, long in moves))
            hit = await geo.get("t")
            assert hit is not None and (hit.lat, hit.long) in moves
            assert await geo.count() == 1
            for lat, long in towns:
                box = bbox(lat - 0.1, long - 0.1, lat + 0.1, long + 0.1)
                inside = names(await geo.in_box(box, 10))
                assert inside == (["t"] if box.contains(hit.lat, hit.long) else [])

    async def test_clear(self, geo: GeoIndex) -> None:
        await geo.set_many([("a", 52.5, 13.4), ("b", 48.85, 2.35), ("c", -33.86, 151.2)])
        await geo.clear()
        assert await geo.count() == 0
        assert await geo.get("a") is None
        assert await geo.in_box(bbox(-90, -180, 90, 180), 10) == []
        await geo.set("a", 1.0, 1.0)
        assert await geo.count() == 1

    async def test_invalid_coordinates_are_refused(self, geo: GeoIndex) -> None:
        for lat, long in [(90.1, 0.0), (0.0, 180.5), (math.nan, 0.0), (0.0, math.inf)]:
            with pytest.raises(ValueError):
                await geo.set("x", lat, long)
        assert await geo.count() == 0

    # -- boxes ----------------------------------------------------------------------------------

    async def test_box_edges_are_inside_and_just_outside_is_not(self, geo: GeoIndex) -> None:
        s, w, n, e = 52.50, 13.30, 52.55, 13.45
        mid_lat, mid_long = (s + n) / 2, (w + e) / 2
        inside = {
            "sw": (s, w),
            "ne": (n, e),
            "nw": (n, w),
            "se": (s, e),
            "south": (s, mid_long),
            "north": (n, mid_long),
            "west": (mid_lat, w),
            "east": (mid_lat, e),
        }
        outside = {
            "below": (s - JUST, mid_long),
            "above": (n + JUST, mid_long),
            "left": (mid_lat, w - JUST),
            "right": (mid_lat, e + JUST),
            "corner": (n + JUST, e + JUST),
        }
        await geo.set_many([(m, la, lo) for m, (la, lo) in {**inside, **outside}.items()])
        hits = await geo.in_box(bbox(s, w, n, e), 100)
        assert sorted(names(hits)) == sorted(inside)
        assert_ordered_from(hits, bbox(s, w, n, e).center)

    async def test_zero_area_box_and_empty_box(self, geo: GeoIndex) -> None:
        await geo.set_many([("here", 52.5, 13.4), ("near", 52.5, 13.4 + JUST)])
        point = await geo.in_box(bbox(52.5, 13.4, 52.5, 13.4), 10)
        assert names(point) == ["here"]
        assert point[0].distance_m == pytest.approx(0.0, abs=0.5)
        assert await geo.in_box(bbox(10.0, 10.0, 11.0, 11.0), 10) == []
        assert await geo.in_box(bbox(52.0, 13.0, 53.0, 14.0), 0) == []

    async def test_box_crossing_the_antimeridian(self, geo: GeoIndex) -> None:
        points = {
            "e175": (0.0, 175.0),
            "w175": (1.0, -175.0),
            "e180": (2.0, 180.0),
            "w180": (-2.0, -180.0),
            "e179": (0.0, 179.9),
            "edge_w": (0.0, 170.0),
            "edge_e": (0.0, -170.0),
            "out_w": (0.0, 169.9),
            "out_e": (0.0, -169.9),
            "greenwich": (0.0, 0.0),
            "out_n": (10.5, 179.0),
        }
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        box = bbox(-10.0, 170.0, 10.0, -170.0)
        hits = await geo.in_box(box, 100)
        assert names(hits) == expected_in_box(points, box, 100)
        assert set(names(hits)) == {"e175", "w175", "e180", "w180", "e179", "edge_w", "edge_e"}
        assert_ordered_from(hits, box.center)
        assert names(await geo.in_box(box, 2)) == expected_in_box(points, box, 2)

    async def test_box_spanning_several_regions(self, geo: GeoIndex) -> None:
        rng = random.Random(7)
        points = {f"p{i}": (rng.uniform(50.0, 55.0), rng.uniform(10.0, 17.0)) for i in range(400)}
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        box = bbox(51.0, 11.0, 54.0, 16.0)  # several 3-character geohash cells
        regions = {encode(la, lo, 3) for la, lo in points.values() if box.contains(la, lo)}
        assert len(regions) > 4
        for limit in (1, 10, 100, 1000):
            hits = await geo.in_box(box, limit)
            assert_ranked_like(hits, expected_in_box(points, box, limit), points, box.center)
            assert_ordered_from(hits, box.center)

    async def test_limit_keeps_the_members_nearest_the_centre(self, geo: GeoIndex) -> None:
        center_lat, center_long = 52.52, 13.40
        items = [
            (f"r{r}c{c}", center_lat + r * 0.001, center_long + c * 0.0015)
            for r in range(-10, 11)
            for c in range(-10, 11)
        ]
        await geo.set_many(items)
        box = bbox(52.505, 13.38, 52.535, 13.42)
        points = {m: (la, lo) for m, la, lo in items}
        hits = await geo.in_box(box, 5)
        assert names(hits)[0] == "r0c0"
        assert_ranked_like(hits, expected_in_box(points, box, 5), points, box.center)
        assert len(await geo.in_box(box, 10_000)) == 21 * 21

    async def test_random_boxes_match_brute_force(self, geo: GeoIndex) -> None:
        """Many members near the box edges and far from its centre: results must not depend on how
        a backend prunes candidates (grid buckets, Redis COUNT, search shapes)."""
        rng = random.Random(11)
        points: dict[str, tuple[float, float]] = {}
        for i in range(1500):
            lat = rng.uniform(-70.0, 70.0) if i % 3 else rng.uniform(55.0, 70.0)
            long = rng.uniform(-180.0, 180.0) if i % 2 else rng.uniform(170.0, 180.0)
            points[f"m{i}"] = (lat, long)
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        boxes = [bbox(60.0, 0.0, 70.0, 1.0), bbox(55.0, 175.0, 70.0, -175.0)]
        for _ in range(12):
            south = rng.uniform(-70.0, 60.0)
            west = rng.uniform(-180.0, 180.0)
            east = west + rng.uniform(0.5, 40.0)
            boxes.append(
                bbox(south, west, south + rng.uniform(0.5, 20.0), east - 360 * (east > 180))
            )
        for box in boxes:
            for limit in (3, 50):
                hits = await geo.in_box(box, limit)
                assert_ranked_like(hits, expected_in_box(points, box, limit), points, box.center)

    async def test_huge_boxes_with_few_members(self, geo: GeoIndex) -> None:
        await geo.set_many([("a", 10.0, 10.0), ("b", -10.0, -10.5), ("c", 40.0, -120.0)])
        assert names(await geo.in_box(bbox(-80.0, -179.0, 80.0, 179.0), 10)) == ["a", "b", "c"]
        assert names(await geo.in_box(bbox(0.0, 0.0, 80.0, 179.0), 10)) == ["a"]
        assert names(await geo.in_box(bbox(-85.0, 100.0, 85.0, 20.0), 10)) == ["c", "b", "a"]

    # -- polar latitudes -------------------------------------------------------------------------

    async def test_latitudes_are_clamped_to_the_storable_range(self, geo: GeoIndex) -> None:
        await geo.set_many([("north", 89.9, 10.0), ("south", -90.0, -20.0), ("edge", MAX_LAT, 0.0)])
        north = await geo.get("north")
        assert north is not None and north.lat == MAX_LAT and north.long == 10.0
        south = await geo.get("south")
        assert south is not None and south.lat == -MAX_LAT
        assert sorted(names(await geo.in_box(bbox(80.0, -180.0, 90.0, 180.0), 10))) == [
            "edge",
            "north",
        ]
        assert await geo.in_box(bbox(85.06, -180.0, 90.0, 180.0), 10) == []
        assert names(await geo.in_box(bbox(-90.0, -30.0, -85.0, 0.0), 10)) == ["south"]
        from_pole = await geo.near(Location(lat=90.0, long=0.0), 600_000, 10)
        assert sorted(names(from_pole)) == ["edge", "north"]
        assert_ordered_from(from_pole, Location(lat=90.0, long=0.0))

    # -- radius ---------------------------------------------------------------------------------

    async def test_near_orders_by_distance_and_respects_the_radius_edge(
        self, geo: GeoIndex
    ) -> None:
        c = Location(lat=52.52, long=13.405)
        distances = {"d100": 100.0, "d500": 500.0, "d999": 999.9, "d1000": 1000.1, "d5000": 5000.0}
        await geo.set_many([(m, *north_of(c.lat, c.long, d)) for m, d in distances.items()])
        await geo.set("east", c.lat, c.long + 0.01)  # ~678 m east
        hits = await geo.near(c, 1000.0, 10)
        assert names(hits) == ["d100", "d500", "east", "d999"]
        assert_ordered_from(hits, c)
        assert hits[0].distance_m == pytest.approx(100.0, abs=0.5)
        assert names(await geo.near(c, 1000.0, 2)) == ["d100", "d500"]
        assert await geo.near(c, 1000.0, 0) == []
        assert names(await geo.near(c, 0.0, 10)) == []

    async def test_near_across_the_antimeridian(self, geo: GeoIndex) -> None:
        await geo.set_many([("west", 0.0, -179.99), ("east", 0.0, 179.97), ("far", 0.0, 179.0)])
        hits = await geo.near(Location(lat=0.0, long=179.995), 5_000, 10)
        assert names(hits) == ["west", "east"]

    async def test_near_matches_brute_force(self, geo: GeoIndex) -> None:
        rng = random.Random(5)
        points = {f"n{i}": (rng.uniform(52.3, 52.7), rng.uniform(13.1, 13.7)) for i in range(800)}
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        for _ in range(5):
            c = Location(lat=rng.uniform(52.3, 52.7), long=rng.uniform(13.1, 13.7))
            radius = rng.uniform(500, 20_000)
            within = sorted(
                (haversine_raw(c.lat, c.long, la, lo), m)
                for m, (la, lo) in points.items()
                if haversine_raw(c.lat, c.long, la, lo) <= radius
            )
            for limit in (5, 1000):
                hits = await geo.near(c, radius, limit)
                assert_ranked_like(hits, [m for _, m in within[:limit]], points, c)

    async def test_members_nearer_the_centre_but_outside_do_not_crowd_out_the_box(
        self,
        geo: GeoIndex,
    ) -> None:
        """At high latitude a metric search box is wider than the degree box near its poleward
        edge; members there are nearer the centre than in-box members at the far edge."""
        box = bbox(60.0, 0.0, 70.0, 1.0)
        inside = {f"in{i}": (60.05 + i * 0.001, 0.5) for i in range(20)}
        decoys = {f"out{i}": (69.5 + i * 0.001, 1.1) for i in range(50)}
        points = {**inside, **decoys}
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        hits = await geo.in_box(box, 20)
        assert sorted(names(hits)) == sorted(inside)
        assert_ranked_like(hits, expected_in_box(points, box, 20), points, box.center)

    # -- clusters -------------------------------------------------------------------------------

    async def test_clusters_count_members_by_cell_with_their_centroid(self, geo: GeoIndex) -> None:
        rng = random.Random(21)
        points = {f"c{i}": (rng.uniform(52.3, 52.7), rng.uniform(13.0, 13.8)) for i in range(3000)}
        boxes = [bbox(52.3, 13.0, 52.7, 13.8), bbox(52.41, 13.17, 52.63, 13.52)]
        points = clear_of_edges(points, boxes, (3, 4, 5, 6))
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        for box in boxes:
            for precision in (3, 4, 5, 6):
                want = expected_clusters(points, box, precision)
                assert_clusters_like(await geo.clusters(box, precision), want)
        whole = await geo.clusters(boxes[0], 5)
        assert sum(c.members for c in whole) == len(points)

    async def test_clusters_of_random_boxes_match_brute_force(self, geo: GeoIndex) -> None:
        rng = random.Random(23)
        points = {
            f"r{i}": (rng.uniform(-60.0, 60.0), rng.uniform(-180.0, 180.0)) for i in range(1500)
        }
        points.update(
            {f"a{i}": (rng.uniform(-5.0, 5.0), rng.uniform(175.0, 180.0)) for i in range(200)}
        )
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        boxes = [bbox(-10.0, 170.0, 10.0, -170.0), bbox(-90.0, -180.0, 90.0, 180.0)]
        for _ in range(8):
            south, west = rng.uniform(-60.0, 40.0), rng.uniform(-180.0, 150.0)
            boxes.append(
                bbox(south, west, south + rng.uniform(1.0, 30.0), west + rng.uniform(1.0, 30.0))
            )
        for box in boxes:
            for precision in (1, 2, 3):
                assert_clusters_like(
                    await geo.clusters(box, precision), expected_clusters(points, box, precision)
                )

    async def test_clusters_follow_moves_and_removals(self, geo: GeoIndex) -> None:
        box = bbox(52.0, 13.0, 53.0, 14.0)
        points = {f"m{i}": (52.5 + i * 1e-4, 13.4 + i * 1e-4) for i in range(50)}
        points = clear_of_edges(points, [box], (4, 7))
        await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
        assert_clusters_like(await geo.clusters(box, 4), expected_clusters(points, box, 4))
        moves = {m: (52.9 - i * 1e-4, 13.9) for i, m in enumerate(points) if i % 2 == 0}
        for member, (lat, long) in clear_of_edges(moves, [box], (4, 7)).items():
            points[member] = (lat, long)
            await geo.set(member, lat, long)
        for member in list(points)[1::5]:
            del points[member]
            assert await geo.remove(member) is True
        await geo.set("far", 48.85, 2.35)  # outside the box
        assert_clusters_like(await geo.clusters(box, 4), expected_clusters(points, box, 4))
        assert_clusters_like(await geo.clusters(box, 7), expected_clusters(points, box, 7))

    async def test_clusters_of_an_empty_area_and_bad_precisions(self, geo: GeoIndex) -> None:
        await geo.set("a", 52.5, 13.4)
        assert await geo.clusters(bbox(10.0, 10.0, 11.0, 11.0), 5) == []
        (only,) = await geo.clusters(bbox(52.4999, 13.3999, 52.5001, 13.4001), 8)
        assert (only.cell, only.members) == (encode(52.5, 13.4, 8), 1)
        for precision in (0, 13):
            with pytest.raises(ValueError):
                await geo.clusters(bbox(52.0, 13.0, 53.0, 14.0), precision)

    # -- refills: an index that lost its data is filled again from the last known positions --

    async def test_add_missing_adds_only_members_without_a_position(self, geo: GeoIndex) -> None:
        await geo.set("moved", 48.8566, 2.3522)  # set after the restart: newer than the database

        added = await geo.add_missing(
            [("moved", 52.52, 13.405), ("stall", 52.5, 13.4), ("far", -33.86, 151.2)]
        )

        assert added == 2
        assert await geo.get("moved") == GeoHit("moved", 48.8566, 2.3522)
        assert await geo.get("stall") == GeoHit("stall", 52.5, 13.4)
        assert names(await geo.in_box(bbox(-34, 151, -33, 152), 10)) == ["far"]
        assert names(await geo.near(Location(lat=52.52, long=13.405), 5_000, 10)) == ["stall"]
        assert await geo.add_missing([("stall", 0.0, 0.0)]) == 0
        assert await geo.count() == 3

    async def test_add_missing_in_large_batches(self, geo: GeoIndex) -> None:
        await geo.set("v7", 10.0, 10.0)
        items = [(f"v{i}", 52.0 + i * 0.0001, 13.0 + i * 0.0001) for i in range(2500)]

        assert await geo.add_missing(items) == 2499
        assert await geo.count() == 2500
        assert await geo.get("v7") == GeoHit("v7", 10.0, 10.0)
        assert len(await geo.in_box(bbox(51.9, 12.9, 52.3, 13.3), 5000)) == 2499

    async def test_one_refill_claim_at_a_time_until_the_index_is_filled(
        self, geo: GeoIndex
    ) -> None:
        claim = await geo.claim_refill(60)
        assert claim is not None
        assert await geo.claim_refill(60) is None  # another process is filling it

        assert await geo.end_refill(claim, filled=True) is True
        assert await geo.claim_refill(60) is None  # filled
        assert await geo.end_refill(claim, filled=True) is False  # the claim is used up

    async def test_a_refill_claim_given_up_or_expired_lets_the_next_one_in(
        self, geo: GeoIndex
    ) -> None:
        first = await geo.claim_refill(60)
        assert first is not None
        assert await geo.end_refill(first, filled=False) is True
        second = await geo.claim_refill(0.2)
        assert second is not None and second != first

        deadline = time.monotonic() + 10
        while await geo.claim_refill(60) is None:  # expired: a third process may fill it
            assert time.monotonic() < deadline, "the expired claim was never released"
            await asyncio.sleep(0.05)
        assert await geo.end_refill(second, filled=True) is False  # too late to mark it filled

    async def test_an_index_emptied_while_it_is_refilled_must_be_refilled_again(
        self, geo: GeoIndex
    ) -> None:
        claim = await geo.claim_refill(60)
        assert claim is not None
        await geo.add_missing([("a", 52.5, 13.4)])
        await geo.clear()  # as a Redis that lost its data meanwhile

        assert await geo.end_refill(claim, filled=True) is False
        again = await geo.claim_refill(60)
        assert again is not None
        assert await geo.end_refill(again, filled=True) is True
        await geo.clear()
        assert await geo.claim_refill(60) is not None  # cleared: not filled any more
