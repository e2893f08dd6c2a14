"""Coordinates, boxes and distances.

``long`` (not ``lng``) is the longitude's name on the wire, as in the seed system's mobile clients.
A box whose south-west longitude is greater than its north-east longitude crosses the antimeridian.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from venta_core.domain.base import DomainModel

__all__ = ["EARTH_RADIUS_M", "BoundingBox", "Location", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8


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

    def parts(self) -> list[tuple[float, float, float, float]]:
        """The box as one or two plain (min_lat, min_long, max_lat, max_long) rectangles."""
        s, w, n, e = self.sw.lat, self.sw.long, self.ne.lat, self.ne.long
        if w <= e:
            return [(s, w, n, e)]
        return [(s, w, n, 180.0), (s, -180.0, n, e)]

    def contains(self, lat: float, long: float) -> bool:
        if not self.sw.lat <= lat <= self.ne.lat:
            return False
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
