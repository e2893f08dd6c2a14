"""Coordinates, boxes and distances.

``long`` (not ``lng``) is the longitude's name on the wire, as in the seed system's mobile clients.
A box whose south-west longitude is greater than its north-east longitude crosses the antimeridian.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from venta_core.domain.base import DomainModel

__all__ = [
    "EARTH_RADIUS_M",
    "BoundingBox",
    "Location",
    "Rect",
    "circle_rects",
    "haversine_m",
    "haversine_raw",
]

EARTH_RADIUS_M = 6_371_008.8

Rect = tuple[float, float, float, float]  # min_lat, min_long, max_lat, max_long


class Location(DomainModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    long: float = Field(ge=-180, le=180, allow_inf_nan=False)


def haversine_m(a: Location, b: Location) -> float:
    return haversine_raw(a.lat, a.long, b.lat, b.long)


def haversine_raw(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class BoundingBox(DomainModel):
    sw: Location
    ne: Location

    @model_validator(mode="after")
    def _south_below_north(self) -> BoundingBox:
        if self.sw.lat > self.ne.lat:
            raise ValueError("south-west latitude must not exceed north-east latitude")
        return self

    @property
    def crosses_antimeridian(self) -> bool:
        return self.sw.long > self.ne.long

    def parts(self) -> list[Rect]:
        """The box as plain (min_lat, min_long, max_lat, max_long) rectangles: one, or two when
        it crosses the antimeridian, and a rectangle of no width on the antimeridian's other
        name when only one edge is on it (longitudes -180 and 180 are one meridian)."""
        s, w, n, e = self.sw.lat, self.sw.long, self.ne.lat, self.ne.long
        rects = [(s, w, n, e)] if w <= e else [(s, w, n, 180.0), (s, -180.0, n, e)]
        west_edge = any(r[1] == -180 for r in rects)
        east_edge = any(r[3] == 180 for r in rects)
        if east_edge and not west_edge:
            rects.append((s, -180.0, n, -180.0))
        elif west_edge and not east_edge:
            rects.append((s, 180.0, n, 180.0))
        return rects

    def contains(self, lat: float, long: float) -> bool:
        """Edges included; a position on the antimeridian is in a box with an edge on it,
        whichever sign either was given with."""
        if not self.sw.lat <= lat <= self.ne.lat:
            return False
        return self._holds_long(long) or (abs(long) == 180 and self._holds_long(-long))

    def _holds_long(self, long: float) -> bool:
        if self.crosses_antimeridian:
            return long >= self.sw.long or long <= self.ne.long
        return self.sw.long <= long <= self.ne.long

    @property
    def center(self) -> Location:
        lat = (self.sw.lat + self.ne.lat) / 2
        span = self.long_span
        long = self.sw.long + span / 2
        if long > 180:
            long -= 360
        return Location(lat=lat, long=long)

    @property
    def long_span(self) -> float:
        """Width in degrees of longitude (0..360), antimeridian-aware."""
        span = self.ne.long - self.sw.long
        return span if span >= 0 else span + 360

    @property
    def lat_span(self) -> float:
        return self.ne.lat - self.sw.lat


def circle_rects(lat: float, long: float, radius_m: float) -> list[Rect]:
    """Rectangles (split at the antimeridian) that together cover a spherical circle."""
    angle = radius_m / EARTH_RADIUS_M
    if angle >= math.pi:
        return [(-90.0, -180.0, 90.0, 180.0)]
    dlat = math.degrees(angle) * (1 + 1e-9) + 1e-9
    south, north = lat - dlat, lat + dlat
    ratio = math.sin(angle) / math.cos(math.radians(lat)) if abs(lat) < 90 else 2.0
    if south <= -90 or north >= 90 or ratio >= 1:  # a pole is inside: every longitude
        return [(max(south, -90.0), -180.0, min(north, 90.0), 180.0)]
    dlon = math.degrees(math.asin(ratio)) * (1 + 1e-9) + 1e-9
    west, east = long - dlon, long + dlon
    if west < -180:
        return [(south, west + 360, north, 180.0), (south, -180.0, north, east)]
    if east > 180:
        return [(south, west, north, 180.0), (south, -180.0, north, east - 360)]
    return [(south, west, north, east)]
