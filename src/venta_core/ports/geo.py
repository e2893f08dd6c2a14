"""Geo index port: live positions of members (vendors), queried by box or radius.

Implementations: ``MemoryGeoIndex`` (in-process grid) and ``RedisGeoIndex`` (Redis GEO keyed by
region cell so it spreads over a Redis Cluster). Both are held to one contract suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from venta_core.domain.geo import BoundingBox, Location

__all__ = ["GeoHit", "GeoIndex"]


class GeoHit(NamedTuple):
    member: str
    lat: float
    long: float
    distance_m: float | None = None  # from the query centre (box centre for box queries)


class GeoIndex(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def set(self, member: str, lat: float, long: float) -> None:
        """Insert or move ``member`` (moving between regions removes it from the old one)."""
        ...

    async def set_many(self, items: Sequence[tuple[str, float, float]]) -> None: ...

    async def get(self, member: str) -> GeoHit | None: ...

    async def remove(self, member: str) -> bool:
        """Remove ``member``; True when it was there."""
        ...

    async def in_box(self, box: BoundingBox, limit: int) -> list[GeoHit]:
        """Members inside ``box`` (edges included, antimeridian-aware), nearest to its centre
        first, at most ``limit``; ``distance_m`` is the distance to the box centre."""
        ...

    async def near(self, center: Location, radius_m: float, limit: int) -> list[GeoHit]:
        """Members within ``radius_m`` of ``center``, nearest first, at most ``limit``."""
        ...

    async def count(self) -> int: ...

    async def clear(self) -> None:
        """Remove every member (tests and reindexing)."""
        ...
