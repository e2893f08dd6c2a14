"""How the Redis geo index asks Redis: GEOSEARCH shapes on Redis's sphere, and how Redis's
approximate answers are judged.

Redis measures on a sphere of radius ``REDIS_EARTH_RADIUS_M`` (ours is the mean radius), keeps
positions as 52-bit geohashes (within about 0.3 m) and decides box membership along each
member's own latitude. So every shape is drawn a little larger (``MARGIN_M``), and a member that
Redis places within ``EDGE_DEG`` / ``EDGE_M`` of an edge is judged again on its exact stored
coordinates (``roughly_in_box`` and ``Query.roughly`` answer None for those).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from venta_core.domain.geo import EARTH_RADIUS_M, BoundingBox, Location
from venta_core.ports.geo_memory import MAX_LAT

__all__ = [
    "EDGE_DEG",
    "EDGE_M",
    "MARGIN_M",
    "REDIS_EARTH_RADIUS_M",
    "SCALE",
    "Query",
    "Search",
    "Shape",
    "box_shape",
    "geo_point",
    "roughly_in_box",
]

#: Earth radius Redis GEO measures with; its distances are ours times ``SCALE``.
REDIS_EARTH_RADIUS_M = 6372797.560856
SCALE = REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M
#: Redis returns coordinates within ~3e-6 degrees / 0.3 m; closer than this to an edge is unsure.
EDGE_DEG = 1e-5
EDGE_M = 1.0
#: Added to every Redis search shape so members on an edge are never cut by rounding.
MARGIN_M = 2.0


@dataclass(frozen=True, slots=True)
class Shape:
    """A GEOSEARCH shape in metres (Redis's earth): a radius, or a width and a height."""

    radius: float | None = None
    width: float | None = None
    height: float | None = None


@dataclass(frozen=True, slots=True)
class Query:
    center: Location  # distances (and the order of hits) are measured from here
    limit: int
    matches: Callable[[float, float], bool]  # the exact rule, on stored coordinates
    # The same rule on coordinates as Redis returns them: None when too close to an edge to say.
    roughly: Callable[[float, float], bool | None]


@dataclass(slots=True)
class Search:
    """One GEOSEARCH on one region key, re-run with a larger COUNT while it might hide hits."""

    key: str
    lat: float
    long: float
    shape: Shape
    offset_m: float  # from this search's centre to the query's centre
    count: int | None
    raw: list[Any] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.count is not None and len(self.raw) >= self.count

    def may_hide(self, kth: float | None, tie_m: float) -> bool:
        """Could a member this search did not return rank before the current k-th hit (by more
        than ``tie_m``)?"""
        if not self.truncated:
            return False
        if kth is None:
            return True
        # Unreturned members are at least the last one's distance from this search's centre.
        nearest_unseen = float(self.raw[-1][1]) / SCALE - self.offset_m
        return nearest_unseen + tie_m < kth


def box_shape(south: float, west: float, north: float, east: float) -> Shape:
    """BYBOX width and height (metres, Redis's earth) centred on the rectangle that cover it all.

    Redis measures a member's east-west offset along the member's own latitude, so the width must
    cover the rectangle where it is widest: at the latitude nearest the equator."""
    half_lat = math.radians(north - south) / 2
    half_long = math.radians(east - west) / 2
    widest = 0.0 if south <= 0 <= north else min(abs(south), abs(north))
    chord = min(1.0, math.cos(math.radians(widest)) * math.sin(half_long / 2))
    half_width = 2 * REDIS_EARTH_RADIUS_M * math.asin(chord)
    return Shape(
        width=2 * (half_width + MARGIN_M),
        height=2 * (REDIS_EARTH_RADIUS_M * half_lat + MARGIN_M),
    )


def roughly_in_box(box: BoundingBox, lat: float, long: float) -> bool | None:
    """Box membership of a position known to within ``EDGE_DEG``; None when too close to call
    (on an edge, or on the antimeridian, where -180 and 180 name one meridian)."""
    if 180 - abs(long) < EDGE_DEG:
        return None
    inside_lat = min(lat - box.sw.lat, box.ne.lat - lat)
    if box.crosses_antimeridian:
        inside_long = max(long - box.sw.long, box.ne.long - long)
    else:
        inside_long = min(long - box.sw.long, box.ne.long - long)
    margin = min(inside_lat, inside_long)
    if margin >= EDGE_DEG:
        return True
    if margin < -EDGE_DEG:
        return False
    return None


def geo_point(lat: float, long: float) -> tuple[float, float]:
    """A position as handed to Redis GEO: a hair inside the northern and eastern limits.

    Redis encodes latitude 85.05112878 and longitude 180 as geohashes one bit too long, which
    GEOPOS still decodes but GEOSEARCH never finds. Exact positions stay in ``where``."""
    return min(lat, MAX_LAT - 1e-9), min(long, 180.0 - 1e-9)
