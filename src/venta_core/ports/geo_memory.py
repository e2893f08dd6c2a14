"""In-process geo index: a uniform grid of buckets, fast enough for 100k moving members.

Every member lives in one bucket of ``BUCKET_DEG`` x ``BUCKET_DEG`` degrees. A box query visits
only the buckets it overlaps (or, when that is more buckets than are occupied, the occupied ones),
takes the inner buckets whole and filters the border ones exactly. Ranking uses the dot product of
unit vectors (monotonic in great-circle distance, no trigonometry per member); haversine distances
are computed only for the members returned.

Latitudes are clamped to +-``MAX_LAT`` when stored, in this index as in the Redis one (whose GEO
commands refuse anything beyond), so every implementation answers alike. Positions that far north
or south are polar and never a vendor's.

``storable`` is shared by every geo index implementation (and ``circle_rects``, kept in
``venta_core.domain.geo`` because the database's geo filter uses it too).
"""

from __future__ import annotations

import heapq
import math
import time
import uuid
from collections.abc import Iterator, Sequence

from venta_core.domain.cells import grid_cell, grid_shape, quantise
from venta_core.domain.geo import (
    EARTH_RADIUS_M,
    BoundingBox,
    Location,
    Rect,
    circle_rects,
    haversine_raw,
)
from venta_core.ports.geo import GeoCluster, GeoHit

__all__ = ["BUCKET_DEG", "MAX_LAT", "MemoryGeoIndex", "Rect", "circle_rects", "storable"]

#: Largest latitude Redis GEO accepts (Web Mercator); stored latitudes are clamped to it.
MAX_LAT = 85.05112878
#: Grid bucket edge in degrees (~1.1 km of latitude): tens of members per bucket in a dense city.
BUCKET_DEG = 0.01

_Cell = tuple[int, int]
_Entry = tuple[float, float, float, float, float]  # lat, long, then the unit vector x, y, z
#: Slack (degrees) around a bucket's nominal bounds: ``_cell`` rounds a member on its edge
#: either way.
_BUCKET_SLACK = 1e-9


def storable(lat: float, long: float) -> tuple[float, float]:
    """Validate a position and return it as stored (latitude clamped to +-``MAX_LAT``)."""
    if not (math.isfinite(lat) and math.isfinite(long)):
        raise ValueError("coordinates must be finite numbers")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= long <= 180.0):
        raise ValueError(f"coordinates out of range: lat={lat}, long={long}")
    return max(-MAX_LAT, min(MAX_LAT, lat)), long


def _unit(lat: float, long: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(long)
    return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)


def _checked_precision(precision: int) -> int:
    if not 1 <= precision <= 12:
        raise ValueError(f"precision must be between 1 and 12: {precision}")
    return precision


def _bucket_in_one_cell(r: int, c: int, precision: int) -> tuple[int, int] | None:
    """(row, column) of the cell of ``precision`` holding all of bucket (``r``, ``c``), or None
    when the bucket straddles cells."""
    low = quantise(r * BUCKET_DEG - _BUCKET_SLACK, c * BUCKET_DEG - _BUCKET_SLACK, precision)
    high = quantise(
        (r + 1) * BUCKET_DEG + _BUCKET_SLACK, (c + 1) * BUCKET_DEG + _BUCKET_SLACK, precision
    )
    return low if low == high else None


def _cell(lat: float, long: float) -> _Cell:
    return math.floor(lat / BUCKET_DEG), math.floor(long / BUCKET_DEG)


class MemoryGeoIndex:
    """``GeoIndex`` held in this process; set/remove are O(1), queries touch nearby buckets."""

    def __init__(self, name: str = "vendors") -> None:
        self.name = name
        self._where: dict[str, tuple[_Cell, _Entry]] = {}
        self._grid: dict[_Cell, dict[str, _Entry]] = {}
        #: Per bucket, the sums of its members' latitudes and longitudes (for ``clusters``).
        self._sums: dict[_Cell, list[float]] = {}
        self._filled = False
        self._claim: tuple[str, float] | None = None  # token, monotonic time it expires

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def set(self, member: str, lat: float, long: float) -> None:
        self._put(member, lat, long)

    async def set_many(self, items: Sequence[tuple[str, float, float]]) -> None:
        for member, lat, long in items:
            self._put(member, lat, long)

    async def get(self, member: str) -> GeoHit | None:
        found = self._where.get(member)
        if found is None:
            return None
        entry = found[1]
        return GeoHit(member, entry[0], entry[1])

    async def remove(self, member: str) -> bool:
        found = self._where.pop(member, None)
        if found is None:
            return False
        self._drop(found[0], member)
        return True

    async def in_box(self, box: BoundingBox, limit: int) -> list[GeoHit]:
        if limit <= 0:
            return []
        center = box.center
        cx, cy, cz = _unit(center.lat, center.long)
        scored = [
            (-(e[2] * cx + e[3] * cy + e[4] * cz), member, e[0], e[1])
            for part in box.parts()
            for member, e in self._scan(part)
        ]
        best = heapq.nsmallest(limit, scored) if limit * 8 < len(scored) else sorted(scored)
        hits = [
            (haversine_raw(center.lat, center.long, lat, long), member, lat, long)
            for _, member, lat, long in best[:limit]
        ]
        return [GeoHit(m, lat, long, d) for d, m, lat, long in sorted(hits)]

    async def near(self, center: Location, radius_m: float, limit: int) -> list[GeoHit]:
        if limit <= 0 or radius_m < 0:
            return []
        clat, clong = center.lat, center.long
        cx, cy, cz = _unit(clat, clong)
        # Cheap pre-filter: the chord test with a little slack, then the exact haversine.
        min_dot = math.cos(min(math.pi, radius_m / EARTH_RADIUS_M)) - 1e-9
        found: list[tuple[float, str, float, float]] = []
        for rect in circle_rects(clat, clong, radius_m):
            for member, e in self._scan(rect):
                if e[2] * cx + e[3] * cy + e[4] * cz >= min_dot:
                    distance = haversine_raw(clat, clong, e[0], e[1])
                    if distance <= radius_m:
                        found.append((distance, member, e[0], e[1]))
        best = heapq.nsmallest(limit, found) if limit * 8 < len(found) else sorted(found)
        return [GeoHit(m, lat, long, d) for d, m, lat, long in best[:limit]]

    async def clusters(self, box: BoundingBox, precision: int) -> list[GeoCluster]:
        """Buckets wholly inside the box and inside one cell count in O(1) (their member count
        and coordinate sums are kept up to date on every write); the others member by member."""
        rows, cols = grid_shape(_checked_precision(precision))
        found: dict[_Cell, list[float]] = {}  # (row, column) -> [count, sum lat, sum long]
        for rect in box.parts():
            south, west, north, east = rect
            south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
            if south > north or west > east:
                continue
            r0, c0 = _cell(south, west)
            r1, c1 = _cell(north, east)
            for (r, c), bucket in self._buckets(r0, c0, r1, c1):
                inner = r0 < r < r1 and c0 < c < c1
                whole = _bucket_in_one_cell(r, c, precision) if inner else None
                if whole is not None:
                    sums = self._sums[(r, c)]
                    acc = found.setdefault(whole, [0, 0.0, 0.0])
                    acc[0] += len(bucket)
                    acc[1] += sums[0]
                    acc[2] += sums[1]
                    continue
                for e in bucket.values():
                    lat, long = e[0], e[1]
                    if not inner and not (south <= lat <= north and west <= long <= east):
                        continue
                    # As ``venta_core.domain.cells.encode`` quantises (same arithmetic).
                    row = max(min(int((lat + 90.0) / 180.0 * rows), rows - 1), 0)
                    col = max(min(int((long + 180.0) / 360.0 * cols), cols - 1), 0)
                    seen = found.get((row, col))
                    if seen is None:
                        found[(row, col)] = [1, lat, long]
                    else:
                        seen[0] += 1
                        seen[1] += lat
                        seen[2] += long
        clusters = [
            GeoCluster(grid_cell(row, col, precision), int(n), lat / n, long / n)
            for (row, col), (n, lat, long) in found.items()
        ]
        clusters.sort()
        return clusters

    async def add_missing(self, items: Sequence[tuple[str, float, float]]) -> int:
        added = 0
        for member, lat, long in items:
            if member not in self._where:
                self._put(member, lat, long)
                added += 1
        return added

    async def claim_refill(self, ttl_seconds: float) -> str | None:
        now = time.monotonic()
        if self._filled or (self._claim is not None and self._claim[1] > now):
            return None
        token = uuid.uuid4().hex
        self._claim = (token, now + ttl_seconds)
        return token

    async def end_refill(self, claim: str, *, filled: bool) -> bool:
        if self._claim is None or self._claim[0] != claim:
            return False
        self._claim = None
        self._filled = filled
        return True

    async def count(self) -> int:
        return len(self._where)

    async def clear(self) -> None:
        self._where.clear()
        self._grid.clear()
        self._sums.clear()
        self._filled = False
        self._claim = None

    # -- internals -------------------------------------------------------------------------

    def _put(self, member: str, lat: float, long: float) -> None:
        lat, long = storable(lat, long)
        cell = _cell(lat, long)
        entry: _Entry = (lat, long, *_unit(lat, long))
        old = self._where.get(member)
        if old is not None:
            if old[0] != cell:
                self._drop(old[0], member)
            else:
                sums = self._sums[cell]
                sums[0] -= old[1][0]
                sums[1] -= old[1][1]
        self._grid.setdefault(cell, {})[member] = entry
        sums = self._sums.setdefault(cell, [0.0, 0.0])
        sums[0] += lat
        sums[1] += long
        self._where[member] = (cell, entry)

    def _drop(self, cell: _Cell, member: str) -> None:
        bucket = self._grid[cell]
        entry = bucket.pop(member)
        if not bucket:
            del self._grid[cell]
            del self._sums[cell]  # starts again from zero: no rounding drift carried over
            return
        sums = self._sums[cell]
        sums[0] -= entry[0]
        sums[1] -= entry[1]

    def _scan(self, rect: Rect) -> Iterator[tuple[str, _Entry]]:
        """Members inside ``rect`` (edges included; no antimeridian crossing)."""
        south, west, north, east = rect
        south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
        if south > north or west > east:
            return
        r0, c0 = _cell(south, west)
        r1, c1 = _cell(north, east)
        for (r, c), bucket in self._buckets(r0, c0, r1, c1):
            if r0 < r < r1 and c0 < c < c1:  # an inner bucket lies wholly inside the rectangle
                yield from bucket.items()
                continue
            for member, e in bucket.items():
                if south <= e[0] <= north and west <= e[1] <= east:
                    yield member, e

    def _buckets(
        self, r0: int, c0: int, r1: int, c1: int
    ) -> Iterator[tuple[_Cell, dict[str, _Entry]]]:
        """Occupied buckets in the index range: looked up one by one, or, when the range holds
        more buckets than are occupied, found by walking the occupied ones."""
        if (r1 - r0 + 1) * (c1 - c0 + 1) > len(self._grid):
            for cell, bucket in self._grid.items():
                if r0 <= cell[0] <= r1 and c0 <= cell[1] <= c1:
                    yield cell, bucket
            return
        grid = self._grid
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                found = grid.get((r, c))
                if found is not None:
                    yield (r, c), found
