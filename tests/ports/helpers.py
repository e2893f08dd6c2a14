"""Builders and assertions shared by the port tests."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import pytest

from venta_core.domain.geo import EARTH_RADIUS_M, BoundingBox, Location, haversine_raw
from venta_core.ports.geo import GeoHit

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


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``condition()`` holds (delivery over NATS is asynchronous), or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
