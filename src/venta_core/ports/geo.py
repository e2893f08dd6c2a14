"""Geo index port: live positions of members (vendors), queried by box or radius.

Implementations: ``MemoryGeoIndex`` (in-process grid) and ``RedisGeoIndex`` (Redis GEO keyed by
region cell so it spreads over a Redis Cluster). Both are held to one contract suite.

Refilling. An index knows whether it has been filled since it was last empty: a new one, a
cleared one, or a Redis that lost its data (restarted without persistence, failed over to an
empty replica) has not. ``claim_refill`` gives one process at a time the task of filling it
from the database (``add_missing``, which never overwrites a position set meanwhile), and
``end_refill`` records that it was done. The state lives with the positions (in Redis, a key
beside them), so whatever empties the index forgets it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from venta_core.domain.geo import BoundingBox, Location

__all__ = ["GeoCluster", "GeoHit", "GeoIndex"]


class GeoHit(NamedTuple):
    member: str
    lat: float
    long: float
    distance_m: float | None = None  # from the query centre (box centre for box queries)


class GeoCluster(NamedTuple):
    """The members of one geohash cell inside a box: how many, and their centroid."""

    cell: str
    members: int
    lat: float
    long: float


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

    async def clusters(self, box: BoundingBox, precision: int) -> list[GeoCluster]:
        """The members inside ``box`` (as ``in_box`` judges them) grouped by their geohash cell
        of ``precision`` characters (1 to 12, placed as ``venta_core.domain.cells.encode``
        places them), with the mean of their positions; non-empty cells only, ordered by cell.

        Exact on the in-process index; a backend that stores positions approximately (Redis,
        to ~0.3 m) may place a member lying within that of a box or cell edge on either side."""
        ...

    async def add_missing(self, items: Sequence[tuple[str, float, float]]) -> int:
        """Insert the members that have no position, leaving the others as they are (a position
        set meanwhile is newer than a refill's); returns how many were added. Atomic per
        member against a concurrent ``set``."""
        ...

    async def claim_refill(self, ttl_seconds: float) -> str | None:
        """A claim to refill the index, or None: when it was filled since it was last empty,
        or another claim younger than ``ttl_seconds`` holds (its process is filling it, or
        died doing so: the claim then expires)."""
        ...

    async def end_refill(self, claim: str, *, filled: bool) -> bool:
        """Record the index as filled (``filled``), or give the claim up so that the next
        ``claim_refill`` succeeds. False when the claim no longer held: the index was emptied
        meanwhile (it must be filled again) or the claim expired."""
        ...

    async def count(self) -> int: ...

    async def clear(self) -> None:
        """Remove every member, as if the index were new: it is no longer filled, so running
        processes refill it from the database (tests, rebuilding the live map)."""
        ...
