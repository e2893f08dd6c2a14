"""Redis geo index: one GEO key per region cell, so the index spreads over a Redis Cluster.

Key layout (``P`` = ``{prefix}:geo:{name}``):

- ``P:r:{region}``  GEO set of the members whose position lies in geohash cell ``region``
  (``region_precision`` characters, the cell scheme of ``venta_core.domain.cells``). The ``r:``
  keeps a 5-character region from ever being spelled like ``where``.
- ``P:where``       hash member -> ``"{region} {lat} {long}"``: which region key holds the member
  (so a move between regions removes the old entry) and its exact stored coordinates.
- ``P:regions``     set of regions that hold members (a query too large to enumerate its cells
  intersects with it instead).

Latitudes are clamped to +-85.05112878 when stored: Redis GEO (Web Mercator) refuses anything
beyond, and such polar positions are never a vendor's. ``MemoryGeoIndex`` clamps the same way.

Precision: Redis keeps 52-bit geohashes, so coordinates come back within ~0.3 m of what was
stored. Query results carry those coordinates (on a cluster, the exact ones); ``get()`` returns
the exact stored ones. Whether a member lies inside a box or circle is decided exactly: a member
that Redis places within about a metre of an edge is judged on its exact coordinates from
``P:where`` (one extra HMGET, rarely). So is a member that two region keys return (a move in
progress).

**Single primary.** A move (``set``, the live-update hot path) is one Lua script: one round trip,
atomic over ``where``, ``regions`` and both region keys. Concurrent moves share round trips
(``coalesce``): the moves made while one is in flight go out next as one script that applies
them in order (``SET_EACH``), so vendors streaming at once cost one round trip per batch.
Batches (``set_many``) use MULTI and a small Lua script that drops a member from its previous
region key unless a concurrent write already moved it back.

**Redis Cluster** (``RedisConnection.cluster``). Region keys keep their names, so they spread
over the hash slots: a big city's positions are not all on one shard, and a query fans out
(pipelined, in parallel per shard) over the few region keys it touches. The index-wide
bookkeeping shares one slot through a hash tag, ``{P}:where`` and ``{P}:regions`` (a single
primary keeps the plain names above). That slot holds one hash entry per member (about 100
bytes: 10^6 members fit easily on one shard) and takes two small scripts per update and one
HMGET per query, so it is the shard to watch; the positions and the GEOSEARCH work spread.

A cluster refuses scripts and transactions across slots, so a write runs in per-slot steps:

1. swap ``where`` (a script on the bookkeeping slot: read the old values, write the new ones);
2. make each region key the write touches agree with the value just written: GEOADD into the
   new region key, then (when the region changed) ZREM from the old one;
3. read ``where`` back (the same script records the regions just filled in ``regions``). A
   member whose value changed meanwhile was overtaken by a concurrent write: step 2 is redone
   with the value read, and ``where`` read again. Every write acts after its swap and reads
   after acting, so the region keys settle on the last write (see ``_settle``).

A region key left empty is then dropped from ``regions`` and added back if a concurrent write
filled it meanwhile. A write costs three round trips within its region (the common case: a
vendor moves metres, regions are ~156 km), four when it changes region (more when that empties
the old region key), against one on a single primary.

Readers trust ``where``: on a cluster a query checks every candidate it found against ``where``
and reports its exact stored position, so a member met in two region keys during a move counts
once, at its current position, and an entry left behind by a process that died between two
steps is never shown (it stays until the member passes through that region again or the index
is cleared). Between steps 1 and 2 of a move to another region, a query covering only the new
position does not see the member yet (for one round trip); no query shows it where it has left.

The two layouts do not mix: a deployment moving from a single primary to a cluster points at a
new, empty Redis, and the location service refills an empty index from the database.

Refills (``add_missing``, ``claim_refill``, ``end_refill``; see ``venta_core.ports.geo``): the
claim is one key beside the bookkeeping (``P:refill``, hash-tagged with it on a cluster, see
``refill_claim``), so an empty Redis has none; ``add_missing`` adds a member only where
``where`` has no entry, in the same script (single primary) or through the usual settling of
region keys (cluster). On a cluster the claim key shares the bookkeeping's shard: a region
shard that loses its data alone is not noticed (its members come back as they move).

Neighbouring modules: ``geo_redis_lua`` holds the scripts, ``geo_redis_search`` the GEOSEARCH
shapes and how Redis's approximate answers are judged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from venta_core.domain.cells import (
    cell_bounds,
    cell_grid,
    cells_covering,
    encode,
    grid_cell,
    grid_shape,
    grid_span,
)
from venta_core.domain.geo import BoundingBox, Location, haversine_raw
from venta_core.ports import geo_redis_lua as lua
from venta_core.ports.coalesce import Coalescer
from venta_core.ports.geo import GeoCluster, GeoHit
from venta_core.ports.geo_memory import MAX_LAT, Rect, circle_rects, storable
from venta_core.ports.geo_redis_search import (
    EDGE_M,
    MARGIN_M,
    SCALE,
    Query,
    Search,
    Shape,
    box_shape,
    geo_point,
    roughly_in_box,
)
from venta_core.ports.redis_conn import RedisConnection, guarded
from venta_core.ports.refill_claim import RedisRefillClaim

__all__ = ["RedisGeoIndex"]

logger = logging.getLogger(__name__)

#: Ties closer than this (metres) may be broken either way when a truncated search is judged.
_TIE_M = 0.01
#: The same on a cluster, where hits are ranked on exact coordinates while a search's unreturned
#: members are known only by Redis's distances (within ~0.3 m of theirs): without the margin,
#: half the truncated searches would be run again for a tie Redis cannot resolve.
_CLUSTER_TIE_M = EDGE_M
#: A box covering more region cells than this is intersected with the non-empty regions.
_MAX_COVER = 64
_CHUNK = 1000
#: Region keys counted at once by ``clusters``.
_CLUSTER_CALLS = 8
#: ``clusters`` reads a region key whole, rather than searching it, when at least this share
#: of the region's area lies inside the box.
_WHOLE_REGION_SHARE = 0.25
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: Rounds of "act, read back" a cluster write runs while concurrent writes keep overtaking it.
_SETTLE_ROUNDS = 8

_Hit = tuple[float, str, float, float]  # distance to the query centre, member, lat, long
_Regions = set[str]
_Move = tuple[str, float, float]  # member, lat, long (storable)
#: (member, region) -> the ``where`` value the region key must agree with (None: no entry).
_Pending = dict[tuple[str, str], str | None]


class RedisGeoIndex:
    """``GeoIndex`` on Redis GEO, keyed by region cell (see the module docstring)."""

    def __init__(
        self,
        conn: RedisConnection,
        *,
        prefix: str,
        name: str = "vendors",
        region_precision: int = 3,
    ) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"geo index name must match {_NAME_RE.pattern}: {name!r}")
        if not 1 <= region_precision <= 12:
            raise ValueError("region_precision must be between 1 and 12")
        self.name = name
        self._conn = conn
        self._precision = region_precision
        self._base = f"{prefix}:geo:{name}"
        self._cluster = conn.cluster
        # On a cluster the bookkeeping shares one hash slot (see the module docstring).
        meta = f"{{{self._base}}}" if self._cluster else self._base
        self._where = f"{meta}:where"
        self._regions = f"{meta}:regions"
        self._refill = RedisRefillClaim(conn, f"{meta}:refill")
        self._set_script: Any = None
        self._scripts: dict[str, Any] = {}
        self._sets: Coalescer[_Move, BaseException | None] = Coalescer(
            self._flush_sets, name=f"geo:{name}:set"
        )

    def _key(self, region: str) -> str:
        return f"{self._base}:r:{region}"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        await self._conn.check()

    # -- writes ----------------------------------------------------------------------------

    @guarded
    async def set(self, member: str, lat: float, long: float) -> None:
        """The hot path of a live update. Concurrent calls are coalesced (``coalesce``): the
        calls made while a round trip is in flight share the next one. A lone call is one
        EVALSHA round trip (see ``lua.SET``); on a cluster, per-slot steps (see the module
        docstring)."""
        lat, long = storable(lat, long)
        await self._sets.submit((member, lat, long))

    async def _flush_sets(self, moves: list[_Move]) -> list[BaseException | None]:
        if self._cluster:
            await self._write_cluster({m: (lat, long) for m, lat, long in moves})  # last wins
            return [None] * len(moves)
        if len(moves) == 1:  # a lone move: the single-move script, as unbatched
            member, lat, long = moves[0]
            region = encode(lat, long, self._precision)
            geo_lat, geo_long = geo_point(lat, long)
            if self._set_script is None:
                self._set_script = self._conn.client.register_script(lua.SET)
            keys = [self._where, self._regions, self._key(region)]
            value = _where_value(region, lat, long)
            await self._set_script(keys, [member, region, value, geo_long, geo_lat, self._base])
            return [None]
        return await self._set_each(moves)

    async def _set_each(self, moves: list[_Move]) -> list[BaseException | None]:
        """Many moves in one round trip: one ``lua.SET_EACH`` applying them in order (two
        moves of one member apply one after the other: the last one wins, as unbatched). A
        move that fails (a reply error) fails alone."""
        args: list[Any] = [self._base]
        for member, lat, long in moves:
            geo_lat, geo_long = geo_point(lat, long)
            value = _where_value(encode(lat, long, self._precision), lat, long)
            args += (member, value, geo_long, geo_lat)
        replies = await self._script(lua.SET_EACH, [self._where, self._regions], args)
        return [None if r == 1 else ResponseError(_text(r)) for r in replies]

    @guarded
    async def set_many(self, items: Sequence[tuple[str, float, float]]) -> None:
        latest = {member: storable(lat, long) for member, lat, long in items}  # last one wins
        members = list(latest)
        write = self._write_cluster if self._cluster else self._write
        for i in range(0, len(members), _CHUNK):
            await write({m: latest[m] for m in members[i : i + _CHUNK]})

    async def _write(self, positions: dict[str, tuple[float, float]]) -> None:
        """Store positions in one MULTI that also returns the old regions, then prune the
        members that changed region from their old keys."""
        members = list(positions)
        regions = {m: encode(lat, long, self._precision) for m, (lat, long) in positions.items()}
        where: list[str] = []
        by_region: dict[str, list[Any]] = {}
        for m, (lat, long) in positions.items():
            where += (m, _where_value(regions[m], lat, long))
            geo_lat, geo_long = geo_point(lat, long)
            by_region.setdefault(regions[m], []).extend((geo_long, geo_lat, m))
        async with self._conn.client.pipeline(transaction=True) as pipe:
            pipe.hmget(self._where, members)
            pipe.hset(self._where, items=where)
            for region, values in by_region.items():
                pipe.geoadd(self._key(region), values)
            pipe.sadd(self._regions, *by_region)
            old_values = (await pipe.execute())[0]
        moved: dict[str, list[str]] = {}
        for m, old in zip(members, old_values, strict=True):
            old_region = _region(old) if old else None
            if old_region is not None and old_region != regions[m]:
                moved.setdefault(old_region, []).append(m)
        await self._prune(moved)

    async def _prune(self, by_region: dict[str, list[str]]) -> None:
        if not by_region:
            return
        client = self._conn.client
        async with client.pipeline(transaction=False) as pipe:
            for region, members in by_region.items():
                keys = [self._key(region), self._regions, self._where]
                pipe.eval(lua.PRUNE, len(keys), *keys, region, *members)
            await pipe.execute()

    @guarded
    async def remove(self, member: str) -> bool:
        if self._cluster:
            (old,) = await self._script(lua.SWAP, [self._where], [member, ""])
            if old is None:
                return False
            await self._settle({(member, _region(old)): None})
            return True
        async with self._conn.client.pipeline(transaction=True) as pipe:
            pipe.hget(self._where, member)
            pipe.hdel(self._where, member)
            old, _ = await pipe.execute()
        if old is None:
            return False
        await self._prune({_region(old): [member]})
        return True

    # -- writes on a Redis Cluster (see the module docstring) --------------------------------

    async def _write_cluster(self, positions: dict[str, tuple[float, float]]) -> None:
        """Swap the ``where`` values, then settle the new and the old region of every member."""
        members = list(positions)
        values: dict[str, str] = {}
        for m, (lat, long) in positions.items():
            values[m] = _where_value(encode(lat, long, self._precision), lat, long)
        swap = [x for pair in values.items() for x in pair]
        old_values = await self._script(lua.SWAP, [self._where], swap)
        pending: _Pending = {}
        for m, old in zip(members, old_values, strict=True):
            value = values[m]
            pending[(m, _region(value))] = value
            if old is not None and _region(old) != _region(value):
                pending[(m, _region(old))] = value
        await self._settle(pending)

    async def _settle(self, pending: _Pending) -> None:
        """Make each (member, region) key entry agree with its ``where`` value, then read
        ``where`` back and repeat for the entries whose value changed meanwhile.

        Why this settles on the last write: every write acts only after swapping ``where``, and
        checks ``where`` only after acting. So the last action on a region key is followed by a
        read that confirmed it, and any later change of ``where`` comes with its writer's own
        later action on that region key (it settles both its new and its old region)."""
        emptied: _Regions = set()
        for _ in range(_SETTLE_ROUNDS):
            added = await self._act(pending, emptied)
            members = sorted({m for m, _ in pending})
            # Regions are recorded after their GEOADDs: see _forget.
            args = [len(added), *sorted(added), *members]
            values = await self._script(lua.READ_BACK, [self._where, self._regions], args)
            now = dict(zip(members, values, strict=True))
            pending = {k: now[k[0]] for k, v in pending.items() if now[k[0]] != v}
            if not pending:
                break
        else:
            logger.warning(
                "geo index %s: %d entries still moving after %d rounds of concurrent writes",
                self._base, len(pending), _SETTLE_ROUNDS,
            )  # fmt: skip
        if emptied:
            await self._forget(emptied)

    async def _act(self, pending: _Pending, emptied: _Regions) -> _Regions:
        """GEOADD where the value says the member is, then ZREM elsewhere (noting region keys
        left empty in ``emptied``), each step pipelined over the region keys. Adding first keeps
        a member that changes region in a region key throughout. Returns the regions added to."""
        adds: dict[str, list[Any]] = {}
        drops: dict[str, list[str]] = {}
        for (member, region), value in pending.items():
            if value is not None and _region(value) == region:
                geo_lat, geo_long = geo_point(*_exact(value))
                adds.setdefault(region, []).extend((geo_long, geo_lat, member))
            else:
                drops.setdefault(region, []).append(member)
        client = self._conn.client
        if len(adds) == 1:  # the usual move, within its region: no pipeline
            ((region, triples),) = adds.items()
            await client.geoadd(self._key(region), triples)
        elif adds:
            async with client.pipeline(transaction=False) as pipe:
                for region, triples in adds.items():
                    pipe.geoadd(self._key(region), triples)
                await pipe.execute()
        if drops:
            async with client.pipeline(transaction=False) as pipe:
                for region, members in drops.items():
                    pipe.zrem(self._key(region), *members)
                    pipe.exists(self._key(region))
                exists = (await pipe.execute())[1::2]
            emptied.update(r for r, n in zip(drops, exists, strict=True) if not n)
        return set(adds)

    async def _script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._conn.client.register_script(source)
        return await script(keys, args)

    async def _forget(self, regions: _Regions) -> None:
        """Drop regions whose key is gone from ``regions``. A concurrent write may fill one
        again meanwhile: it adds the region back only after its GEOADD, so a region whose key
        exists after the SREM is added back here (else that write's SADD comes later)."""
        ordered = sorted(regions)
        client = self._conn.client
        await client.srem(self._regions, *ordered)
        async with client.pipeline(transaction=False) as pipe:
            for region in ordered:
                pipe.exists(self._key(region))
            refilled = [r for r, n in zip(ordered, await pipe.execute(), strict=True) if n]
        if refilled:
            await client.sadd(self._regions, *refilled)

    @guarded
    # -- refills (see venta_core.ports.geo and refill_claim) ----------------------------------

    @guarded
    async def add_missing(self, items: Sequence[tuple[str, float, float]]) -> int:
        latest = {member: storable(lat, long) for member, lat, long in items}  # last one wins
        members = list(latest)
        add = self._add_missing_cluster if self._cluster else self._add_missing
        added = 0
        for i in range(0, len(members), _CHUNK):
            added += await add({m: latest[m] for m in members[i : i + _CHUNK]})
        return added

    async def _add_missing(self, positions: dict[str, tuple[float, float]]) -> int:
        """Single primary: one script per chunk, atomic against a concurrent ``set``."""
        args: list[Any] = [self._base]
        for member, (lat, long) in positions.items():
            region = encode(lat, long, self._precision)
            geo_lat, geo_long = geo_point(lat, long)
            args += (member, region, _where_value(region, lat, long), geo_long, geo_lat)
        return int(await self._script(lua.ADD_MISSING, [self._where, self._regions], args))

    async def _add_missing_cluster(self, positions: dict[str, tuple[float, float]]) -> int:
        """Cluster: record ``where`` for the members that have none, then settle their region
        keys like any write (a concurrent ``set`` of one of them overtakes this one there)."""
        values = {
            member: _where_value(encode(lat, long, self._precision), lat, long)
            for member, (lat, long) in positions.items()
        }
        flat = [x for pair in values.items() for x in pair]
        recorded = await self._script(lua.CLAIM_MISSING, [self._where], flat)
        pending: _Pending = {
            (m, _region(v)): v for (m, v), new in zip(values.items(), recorded, strict=True) if new
        }
        if pending:
            await self._settle(pending)
        return len(pending)

    @guarded
    async def claim_refill(self, ttl_seconds: float) -> str | None:
        return await self._refill.claim(ttl_seconds)

    @guarded
    async def end_refill(self, claim: str, *, filled: bool) -> bool:
        return await self._refill.end(claim, filled=filled)

    @guarded
    async def clear(self) -> None:
        client = self._conn.client
        # hash-tagged on a cluster, so not matched by the scan below
        batch: list[str] = [self._where, self._regions, self._refill.key]
        async for key in client.scan_iter(match=_glob_escape(self._base) + ":*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)

    # -- reads -----------------------------------------------------------------------------

    @guarded
    async def get(self, member: str) -> GeoHit | None:
        value = await self._conn.client.hget(self._where, member)
        if value is None:
            return None
        lat, long = _exact(value)
        return GeoHit(member, lat, long)

    @guarded
    async def count(self) -> int:
        return int(await self._conn.client.hlen(self._where))

    @guarded
    async def in_box(self, box: BoundingBox, limit: int) -> list[GeoHit]:
        if limit <= 0:
            return []
        center = box.center
        searches: list[Search] = []
        known: _Regions | None = None
        for rect in box.parts():
            south, west, north, east = rect
            south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
            if south > north:
                continue
            lat, long = geo_point((south + north) / 2, (west + east) / 2)
            shape = box_shape(south, west, north, east)
            offset = haversine_raw(center.lat, center.long, lat, long)
            regions, known = await self._regions_for((south, west, north, east), known)
            searches += [
                Search(self._key(r), lat, long, shape, offset, limit) for r in sorted(regions)
            ]
        query = Query(center, limit, box.contains, lambda la, lo: roughly_in_box(box, la, lo))
        return await self._run(searches, query)

    @guarded
    async def clusters(self, box: BoundingBox, precision: int) -> list[GeoCluster]:
        """One script per region key the box touches (``lua.CLUSTERS``), run concurrently: each
        answers per-cell counts and coordinate sums, never its members."""
        if not 1 <= precision <= 12:
            raise ValueError(f"precision must be between 1 and 12: {precision}")
        rows, cols = grid_shape(precision)
        calls = []
        known: _Regions | None = None
        for rect in box.parts():
            south, west, north, east = rect
            south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
            if south > north:
                continue
            regions, known = await self._regions_for((south, west, north, east), known)
            for region in sorted(regions):
                # Search only the part of the rectangle within the region (and a margin).
                r_s, r_w, r_n, r_e = cell_bounds(region)
                s_, w_ = max(south, r_s), max(west, r_w)
                n_, e_ = min(north, r_n), min(east, r_e)
                lat, long = geo_point((s_ + n_) / 2, (w_ + e_) / 2)
                shape = box_shape(s_, w_, n_, e_)
                # Most of the region inside: read the whole key rather than search it.
                share = max(0.0, n_ - s_) * max(0.0, e_ - w_) / ((r_n - r_s) * (r_e - r_w))
                search = 0 if share >= _WHOLE_REGION_SHARE else 1
                args = [search, long, lat, shape.width, shape.height, south, west, north, east]
                calls.append(self._script(lua.CLUSTERS, [self._key(region)], [*args, rows, cols]))
        answers: list[Any] = []
        for i in range(0, len(calls), _CLUSTER_CALLS):  # a bounded share of the pool
            answers += await asyncio.gather(*calls[i : i + _CLUSTER_CALLS])
        found: dict[tuple[int, int], list[float]] = {}
        for flat in answers:
            for i in range(0, len(flat), 5):
                row, col, n = int(flat[i]), int(flat[i + 1]), int(flat[i + 2])
                acc = found.setdefault((row, col), [0, 0.0, 0.0])
                acc[0] += n
                acc[1] += float(flat[i + 3])
                acc[2] += float(flat[i + 4])
        clusters = [
            GeoCluster(grid_cell(row, col, precision), int(n), lat / n, long / n)
            for (row, col), (n, lat, long) in found.items()
        ]
        clusters.sort()
        return clusters

    @guarded
    async def near(self, center: Location, radius_m: float, limit: int) -> list[GeoHit]:
        if limit <= 0 or radius_m < 0:
            return []
        lat, long = geo_point(max(-MAX_LAT, min(MAX_LAT, center.lat)), center.long)
        offset = haversine_raw(center.lat, center.long, lat, long)
        shape = Shape(radius=(radius_m + offset) * SCALE + MARGIN_M)
        regions: _Regions = set()
        known: _Regions | None = None
        for rect in circle_rects(center.lat, center.long, radius_m):
            found, known = await self._regions_for(rect, known)
            regions |= found
        searches = [Search(self._key(r), lat, long, shape, offset, limit) for r in sorted(regions)]

        def distance(la: float, lo: float) -> float:
            return haversine_raw(center.lat, center.long, la, lo)

        def roughly(la: float, lo: float) -> bool | None:
            d = distance(la, lo)
            return None if abs(d - radius_m) <= EDGE_M else d < radius_m

        query = Query(center, limit, lambda la, lo: distance(la, lo) <= radius_m, roughly)
        return await self._run(searches, query)

    async def _regions_for(
        self, rect: Rect, known: _Regions | None
    ) -> tuple[_Regions, _Regions | None]:
        """Regions to search for ``rect``: its cells, or, when there are too many, the non-empty
        regions that intersect it (``known`` caches that set across the parts of one query)."""
        south, west, north, east = rect
        south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
        if south > north:
            return set(), known
        cells = cells_covering(south, west, north, east, self._precision)
        if cells is not None and len(cells) <= _MAX_COVER:
            return set(cells), known
        if known is None:
            known = {_text(r) for r in await self._conn.client.smembers(self._regions)}
        r0, c0, r1, c1 = grid_span(south, west, north, east, self._precision)
        inside = {r for r in known if _within(cell_grid(r), r0, c0, r1, c1)}
        return inside, known

    async def _run(self, searches: list[Search], query: Query) -> list[GeoHit]:
        """Run the searches, re-running with a larger COUNT those that might hide a better hit,
        and merge their matches nearest to the query's centre first."""
        limit = query.limit
        tie_m = _CLUSTER_TIE_M if self._cluster else _TIE_M
        pending = searches
        hits: list[_Hit] = []
        while pending:
            await self._fetch(pending)
            hits = await self._matches(searches, query)
            kth = hits[limit - 1][0] if len(hits) >= limit else None
            pending = [s for s in searches if s.may_hide(kth, tie_m)]
            for s in pending:
                s.count = None if s.count is None or s.count >= 16 * limit else s.count * 4
        return [GeoHit(m, lat, long, d) for d, m, lat, long in hits[:limit]]

    async def _fetch(self, searches: list[Search]) -> None:
        async with self._conn.client.pipeline(transaction=False) as pipe:
            for s in searches:
                pipe.geosearch(
                    s.key,
                    longitude=s.long,
                    latitude=s.lat,
                    unit="m",
                    sort="ASC",
                    count=s.count,
                    withcoord=True,
                    withdist=True,
                    radius=s.shape.radius,
                    width=s.shape.width,
                    height=s.shape.height,
                )
            for s, raw in zip(searches, await pipe.execute(), strict=True):
                s.raw = raw

    async def _matches(self, searches: Sequence[Search], query: Query) -> list[_Hit]:
        """Members the searches returned that match, sorted by (distance, member), deduplicated.

        Judged on their exact stored coordinates (from ``where``): members too close to an edge
        to judge from Redis's coordinates, members two region keys returned (a move in
        progress), and on a cluster every candidate (see the module docstring)."""
        found: dict[str, tuple[float, float]] = {}
        unsure: set[str] = set()
        every = self._cluster
        for s in searches:
            for member, _dist, (long, lat) in s.raw:
                verdict = query.roughly(lat, long)
                if verdict is None or (every and verdict):
                    unsure.add(member)
                elif verdict:
                    found[member] = (lat, long)
        if len(searches) > 1:  # only then can one member come back twice
            counts = Counter(member for s in searches for member, _, _ in s.raw)
            twice = [member for member, n in counts.items() if n > 1]
            for member in twice:
                found.pop(member, None)
            unsure.update(twice)
        if unsure:
            ordered = sorted(unsure)
            values = await self._conn.client.hmget(self._where, ordered)
            for member, value in zip(ordered, values, strict=True):
                exact = _exact(value) if value is not None else None
                if exact is not None and query.matches(*exact):
                    found[member] = exact
        c = query.center
        hits = [(haversine_raw(c.lat, c.long, la, lo), m, la, lo) for m, (la, lo) in found.items()]
        hits.sort()
        return hits


def _within(cell: tuple[int, int], r0: int, c0: int, r1: int, c1: int) -> bool:
    """Whether a region's grid position lies in a ``grid_span`` (exactly as ``encode`` places
    members: a cell's geometric bounds would miss one rounded onto its edge)."""
    return r0 <= cell[0] <= r1 and c0 <= cell[1] <= c1


def _where_value(region: str, lat: float, long: float) -> str:
    """A ``where`` value: the member's region and its exact stored coordinates."""
    return f"{region} {lat!r} {long!r}"


def _text(value: bytes | str) -> str:
    """Responses are decoded (``decode_responses=True``); this narrows redis-py's types."""
    return value if isinstance(value, str) else value.decode()


def _region(value: bytes | str) -> str:
    """The region of a ``where`` value."""
    return _text(value).split(" ", 1)[0]


def _exact(value: bytes | str) -> tuple[float, float]:
    """Exact stored coordinates from a ``where`` value."""
    _, lat, long = _text(value).split(" ")
    return float(lat), float(long)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
