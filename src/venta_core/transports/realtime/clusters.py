"""Clustered viewports: what a zoomed-out ``/user`` connection is sent (``vendor_clusters``).

A clustered viewport is snapped to the geohash cells of its cluster precision: it is answered
with the clusters of the whole cells it touches. So viewports that touch the same cells get the
same answer, and neighbouring viewports of one precision are counted together: a refresh asks
the geo index once per group of overlapping snapped rectangles, not once per connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from venta_core.domain import BoundingBox, Location
from venta_core.domain.cells import cell_bounds, cells_covering, cluster_precision
from venta_core.domain.geo import Rect
from venta_core.services.protocols import LocationService
from venta_core.transports.realtime.session import Session

__all__ = ["ClusterWatch", "answer", "merged", "watch_for"]

Item = dict[str, Any]


@dataclass(eq=False, slots=True)
class ClusterWatch:
    """A session answered with clusters: its precision, the cells its viewport touches, those
    cells as rectangles, and what it was last sent."""

    session: Session
    precision: int
    cells: frozenset[str]
    rects: list[Rect]
    last: list[Item] | None = field(default=None)


def watch_for(session: Session, box: BoundingBox, max_clusters: int) -> ClusterWatch:
    """The clustered view of ``box``: the finest precision at which it touches at most
    ``max_clusters`` cells, and those cells."""
    precision = cluster_precision(box.parts(), max_clusters)
    cells: set[str] = set()
    rects: list[Rect] = []
    for s, w, n, e in box.parts():
        covering = cells_covering(s, w, n, e, precision) or []
        if not covering:
            continue
        cells.update(covering)
        bounds = [cell_bounds(c) for c in covering]
        rects.append(
            (
                min(b[0] for b in bounds),
                min(b[1] for b in bounds),
                max(b[2] for b in bounds),
                max(b[3] for b in bounds),
            )
        )
    return ClusterWatch(session, precision, frozenset(cells), rects)


def _area(r: Rect) -> float:
    return max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])


def _union(a: Rect, b: Rect) -> Rect:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def merged(rects: Iterable[Rect]) -> list[Rect]:
    """Rectangles joined where their union is no larger than the two together (they overlap
    or touch): one query for many viewports of one area, never one spanning empty land."""
    groups: list[Rect] = []
    for rect in sorted(rects):
        for i, group in enumerate(groups):
            union = _union(group, rect)
            if _area(union) <= _area(group) + _area(rect):
                groups[i] = union
                break
        else:
            groups.append(rect)
    return groups


async def answer(locations: LocationService, watches: list[ClusterWatch]) -> list[list[Item]]:
    """The clusters of each watch, in order: one geo-index count per precision and group of
    overlapping rectangles."""
    by_cell: dict[int, dict[str, Item]] = {}
    for precision in {w.precision for w in watches}:
        found: dict[str, Item] = {}
        rects = [r for w in watches if w.precision == precision for r in w.rects]
        for s, w_, n, e in merged(rects):
            box = BoundingBox(sw=Location(lat=s, long=w_), ne=Location(lat=n, long=e))
            for c in await locations.vendor_clusters(box, precision):
                cs, cw, cn, ce = cell_bounds(c.cell)
                if not (s <= cs and w_ <= cw and cn <= n and ce <= e):
                    continue  # members on the group's edge, of a cell it does not hold whole
                found[c.cell] = {
                    "cell": c.cell,
                    "count": c.count,
                    "location": {"lat": c.location.lat, "long": c.location.long},
                }
        by_cell[precision] = found
    return [
        [found[c] for c in sorted(w.cells) if c in found]
        for w in watches
        for found in (by_cell[w.precision],)
    ]
