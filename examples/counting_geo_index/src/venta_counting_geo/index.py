"""``CountingGeoIndex``: a ``GeoIndex`` that delegates every call to the index it wraps and
counts the calls by method name in ``calls`` (``index.calls["in_box"]``, ...)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from venta_core.domain import BoundingBox, Location
from venta_core.ports.geo import GeoCluster, GeoHit, GeoIndex

__all__ = ["CountingGeoIndex"]


class CountingGeoIndex:
    def __init__(self, inner: GeoIndex) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"CountingGeoIndex({self.inner!r})"

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def check(self) -> None:
        await self.inner.check()

    async def set(self, member: str, lat: float, long: float) -> None:
        self.calls["set"] += 1
        await self.inner.set(member, lat, long)

    async def set_many(self, items: Sequence[tuple[str, float, float]]) -> None:
        self.calls["set_many"] += 1
        await self.inner.set_many(items)

    async def get(self, member: str) -> GeoHit | None:
        self.calls["get"] += 1
        return await self.inner.get(member)

    async def remove(self, member: str) -> bool:
        self.calls["remove"] += 1
        return await self.inner.remove(member)

    async def in_box(self, box: BoundingBox, limit: int) -> list[GeoHit]:
        self.calls["in_box"] += 1
        return await self.inner.in_box(box, limit)

    async def near(self, center: Location, radius_m: float, limit: int) -> list[GeoHit]:
        self.calls["near"] += 1
        return await self.inner.near(center, radius_m, limit)

    async def clusters(self, box: BoundingBox, precision: int) -> list[GeoCluster]:
        self.calls["clusters"] += 1
        return await self.inner.clusters(box, precision)

    async def add_missing(self, items: Sequence[tuple[str, float, float]]) -> int:
        self.calls["add_missing"] += 1
        return await self.inner.add_missing(items)

    async def claim_refill(self, ttl_seconds: float) -> str | None:
        self.calls["claim_refill"] += 1
        return await self.inner.claim_refill(ttl_seconds)

    async def end_refill(self, claim: str, *, filled: bool) -> bool:
        self.calls["end_refill"] += 1
        return await self.inner.end_refill(claim, filled=filled)

    async def count(self) -> int:
        self.calls["count"] += 1
        return await self.inner.count()

    async def clear(self) -> None:
        self.calls["clear"] += 1
        await self.inner.clear()


def _implements_the_port(index: CountingGeoIndex) -> GeoIndex:
    """Never called: mypy checks here that the wrapper has every method of ``GeoIndex``, so a
    method added to the port is not forgotten."""
    return index
