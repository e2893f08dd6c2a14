"""MemoryGeoIndex internals the contract cannot see, and the helpers it shares."""

from __future__ import annotations

import math

import pytest

from venta_core.domain.geo import EARTH_RADIUS_M, haversine_raw
from venta_core.ports.geo_memory import MAX_LAT, MemoryGeoIndex, circle_rects, storable


async def test_empty_buckets_are_dropped() -> None:
    geo = MemoryGeoIndex()
    await geo.set_many([(f"m{i}", 52.0 + i * 0.05, 13.0) for i in range(20)])
    for i in range(20):
        await geo.set(f"m{i}", 48.0, 2.0)  # everyone moves into one bucket
    assert len(geo._grid) == 1
    for i in range(20):
        await geo.remove(f"m{i}")
    assert geo._grid == {} and geo._where == {}


def test_storable_clamps_and_validates() -> None:
    assert storable(89.0, 180.0) == (MAX_LAT, 180.0)
    assert storable(-90.0, -180.0) == (-MAX_LAT, -180.0)
    for lat, long in [(91.0, 0.0), (0.0, -181.0), (math.nan, 0.0)]:
        with pytest.raises(ValueError):
            storable(lat, long)


@pytest.mark.parametrize(
    ("lat", "long", "radius_m"),
    [(52.5, 13.4, 5_000), (0.0, 179.99, 10_000), (0.0, -179.99, 10_000), (84.0, 0.0, 800_000)],
)
def test_circle_rects_cover_the_circle(lat: float, long: float, radius_m: float) -> None:
    rects = circle_rects(lat, long, radius_m)
    angle = radius_m / EARTH_RADIUS_M
    for bearing in range(0, 360, 5):  # points on the circle itself
        b = math.radians(bearing)
        p1 = math.radians(lat)
        p2 = math.asin(
            math.sin(p1) * math.cos(angle) + math.cos(p1) * math.sin(angle) * math.cos(b)
        )
        dl = math.atan2(
            math.sin(b) * math.sin(angle) * math.cos(p1),
            math.cos(angle) - math.sin(p1) * math.sin(p2),
        )
        plat, plong = math.degrees(p2), (long + math.degrees(dl) + 540) % 360 - 180
        assert haversine_raw(lat, long, plat, plong) == pytest.approx(radius_m, rel=1e-6)
        assert any(s <= plat <= n and w <= plong <= e for s, w, n, e in rects), (plat, plong)
