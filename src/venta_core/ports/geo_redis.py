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
atomic over ``where``, ``regions`` and both region keys. Batches (``set_many``) use MULTI and a
small Lua script that drops a member from its previous region key unless a concurrent write
already moved it back.

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
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from venta_core.domain.cells import cell_grid, cells_covering, encode, grid_span
from venta_core.domain.geo import EARTH_RADIUS_M, BoundingBox, Location, haversine_raw
from venta_core.ports.geo import GeoHit
from venta_core.ports.geo_memory import MAX_LAT, Rect, circle_rects, storable
from venta_core.ports.redis_conn import RedisConnection, guarded

__all__ = ["RedisGeoIndex"]

logger = logging.getLogger(__name__)

#: Earth radius Redis GEO measures with; its distances are ours times ``_SCALE``.
REDIS_EARTH_RADIUS_M = 6372797.560856
_SCALE = REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M
#: Redis returns coordinates within ~3e-6 degrees / 0.3 m; closer than this to an edge is unsure.
_EDGE_DEG = 1e-5
_EDGE_M = 1.0
#: Added to every Redis search shape so members on an edge are never cut by rounding.
_MARGIN_M = 2.0
#: Ties closer than this (metres) may be broken either way when a truncated search is judged.
_TIE_M = 0.01
#: The same on a cluster, where hits are ranked on exact coordinates while a search's unreturned
#: members are known only by Redis's distances (within ~0.3 m of theirs): without the margin,
#: half the truncated searches would be run again for a tie Redis cannot resolve.
_CLUSTER_TIE_M = _EDGE_M
#: A box covering more region cells than this is intersected with the non-empty regions.
_MAX_COVER = 64
_CHUNK = 1000
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: Rounds of "act, read back" a cluster write runs while concurrent writes keep overtaking it.
_SETTLE_ROUNDS = 8

# Single primary: drop members from one region key unless ``where`` says they are (again) in
# that region, then forget the region when its key is gone. KEYS: region key, regions set,
# where hash. ARGV: region, member...
_PRUNE_LUA = """
local gone = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[3], ARGV[i])
  if not v or string.match(v, '^%S+') ~= ARGV[1] then
    gone = gone + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return gone
"""

# Single primary: one member's move in one round trip, atomically: record the new region and
# exact position, add it to its region key, and drop it from its previous region key if that
# changed. KEYS: where hash, regions set, new region key. ARGV: member, region, where value,
# long, lat, key base (the old region key is derived from it: a single primary only).
_SET_LUA = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('GEOADD', KEYS[3], ARGV[4], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if old then
  local previous = string.match(old, '^%S+')
  if previous ~= ARGV[2] then
    local old_key = ARGV[6] .. ':r:' .. previous
    redis.call('ZREM', old_key, ARGV[1])
    if redis.call('EXISTS', old_key) == 0 then
      redis.call('SREM', KEYS[2], previous)
    end
  end
end
return 1
"""

# Redis Cluster, bookkeeping slot (a cluster's MULTI is costly in redis-py; a script is one
# command). Swap members' ``where`` values and return the previous ones (nil: none).
# KEYS: where hash. ARGV: member1, value1, member2, value2, ... (an empty value removes).
_SWAP_LUA = """
local old = {}
for i = 1, #ARGV, 2 do
  old[#old + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return old
"""

# Redis Cluster, bookkeeping slot: record regions just added to, then read members' values.
# KEYS: where hash, regions set. ARGV: n, region1 .. region_n, member...
_READ_BACK_LUA = """
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 2, n + 1))
end
return redis.call('HMGET', KEYS[1], unpack(ARGV, n + 2))
"""

_Hit = tuple[float, str, float, float]  # distance to the query centre, member, lat, long
_Regions = set[str]
#: (member, region) -> the ``where`` value the region key must agree with (None: no entry).
_Pending = dict[tuple[str, str], str | None]


@dataclass(frozen=True, slots=True)
class _Shape:
    """A GEOSEARCH shape in metres (Redis's earth): a radius, or a width and a height."""

    radius: float | None = None
    width: float | None = None
    height: float | None = None


@dataclass(frozen=True, slots=True)
class _Query:
    center: Location  # distances (and the order of hits) are measured from here
    limit: int
    matches: Callable[[float, float], bool]  # the exact rule, on stored coordinates
    # The same rule on coordinates as Redis returns them: None when too close to an edge to say.
    roughly: Callable[[float, float], bool | None]


@dataclass(slots=True)
class _Search:
    """One GEOSEARCH on one region key, re-run with a larger COUNT while it might hide hits."""

    key: str
    lat: float
    long: float
    shape: _Shape
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
        nearest_unseen = float(self.raw[-1][1]) / _SCALE - self.offset_m
        return nearest_unseen + tie_m < kth


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
        self._set_script: Any = None
        self._scripts: dict[str, Any] = {}

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
        """The hot path of a live update: one EVALSHA round trip (see ``_SET_LUA``); on a
        cluster, per-slot steps (see the module docstring)."""
        lat, long = storable(lat, long)
        if self._cluster:
            await self._write_cluster({member: (lat, long)})
            return
        region = encode(lat, long, self._precision)
        geo_lat, geo_long = _geo_point(lat, long)
        if self._set_script is None:
            self._set_script = self._conn.client.register_script(_SET_LUA)
        keys = [self._where, self._regions, self._key(region)]
        value = f"{region} {lat!r} {long!r}"
        await self._set_script(keys, [member, region, value, geo_long, geo_lat, self._base])

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
            where += (m, f"{regions[m]} {lat!r} {long!r}")
            geo_lat, geo_long = _geo_point(lat, long)
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
                pipe.eval(_PRUNE_LUA, len(keys), *keys, region, *members)
            await pipe.execute()

    @guarded
    async def remove(self, member: str) -> bool:
        if self._cluster:
            (old,) = await self._script(_SWAP_LUA, [self._where], [member, ""])
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
            values[m] = f"{encode(lat, long, self._precision)} {lat!r} {long!r}"
        swap = [x for pair in values.items() for x in pair]
        old_values = await self._script(_SWAP_LUA, [self._where], swap)
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
            values = await self._script(_READ_BACK_LUA, [self._where, self._regions], args)
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
                geo_lat, geo_long = _geo_point(*_exact(value))
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
    async def clear(self) -> None:
        client = self._conn.client
        batch: list[str] = [self._where, self._regions]  # hash-tagged on a cluster
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
        searches: list[_Search] = []
        known: _Regions | None = None
        for rect in box.parts():
            south, west, north, east = rect
            south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
            if south > north:
                continue
            lat, long = _geo_point((south + north) / 2, (west + east) / 2)
            shape = _box_shape(south, west, north, east)
            offset = haversine_raw(center.lat, center.long, lat, long)
            regions, known = await self._regions_for((south, west, north, east), known)
            searches += [
                _Search(self._key(r), lat, long, shape, offset, limit) for r in sorted(regions)
            ]
        query = _Query(center, limit, box.contains, lambda la, lo: _roughly_in_box(box, la, lo))
        return await self._run(searches, query)

    @guarded
    async def near(self, center: Location, radius_m: float, limit: int) -> list[GeoHit]:
        if limit <= 0 or radius_m < 0:
            return []
        lat, long = _geo_point(max(-MAX_LAT, min(MAX_LAT, center.lat)), center.long)
        offset = haversine_raw(center.lat, center.long, lat, long)
        shape = _Shape(radius=(radius_m + offset) * _SCALE + _MARGIN_M)
        regions: _Regions = set()
        known: _Regions | None = None
        for rect in circle_rects(center.lat, center.long, radius_m):
            found, known = await self._regions_for(rect, known)
            regions |= found
        searches = [_Search(self._key(r), lat, long, shape, offset, limit) for r in sorted(regions)]

        def distance(la: float, lo: float) -> float:
            return haversine_raw(center.lat, center.long, la, lo)

        def roughly(la: float, lo: float) -> bool | None:
            d = distance(la, lo)
            return None if abs(d - radius_m) <= _EDGE_M else d < radius_m

        query = _Query(center, limit, lambda la, lo: distance(la, lo) <= radius_m, roughly)
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

    async def _run(self, searches: list[_Search], query: _Query) -> list[GeoHit]:
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

    async def _fetch(self, searches: list[_Search]) -> None:
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

    async def _matches(self, searches: Sequence[_Search], query: _Query) -> list[_Hit]:
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


def _box_shape(south: float, west: float, north: float, east: float) -> _Shape:
    """BYBOX width and height (metres, Redis's earth) centred on the rectangle that cover it all.

    Redis measures a member's east-west offset along the member's own latitude, so the width must
    cover the rectangle where it is widest: at the latitude nearest the equator."""
    half_lat = math.radians(north - south) / 2
    half_long = math.radians(east - west) / 2
    widest = 0.0 if south <= 0 <= north else min(abs(south), abs(north))
    chord = min(1.0, math.cos(math.radians(widest)) * math.sin(half_long / 2))
    half_width = 2 * REDIS_EARTH_RADIUS_M * math.asin(chord)
    return _Shape(
        width=2 * (half_width + _MARGIN_M),
        height=2 * (REDIS_EARTH_RADIUS_M * half_lat + _MARGIN_M),
    )


def _roughly_in_box(box: BoundingBox, lat: float, long: float) -> bool | None:
    """Box membership of a position known to within ``_EDGE_DEG``; None when too close to call
    (on an edge, or on the antimeridian, where -180 and 180 name one meridian)."""
    if 180 - abs(long) < _EDGE_DEG:
        return None
    inside_lat = min(lat - box.sw.lat, box.ne.lat - lat)
    if box.crosses_antimeridian:
        inside_long = max(long - box.sw.long, box.ne.long - long)
    else:
        inside_long = min(long - box.sw.long, box.ne.long - long)
    margin = min(inside_lat, inside_long)
    if margin >= _EDGE_DEG:
        return True
    if margin < -_EDGE_DEG:
        return False
    return None


def _geo_point(lat: float, long: float) -> tuple[float, float]:
    """A position as handed to Redis GEO: a hair inside the northern and eastern limits.

    Redis encodes latitude 85.05112878 and longitude 180 as geohashes one bit too long, which
    GEOPOS still decodes but GEOSEARCH never finds. Exact positions stay in ``where``."""
    return min(lat, MAX_LAT - 1e-9), min(long, 180.0 - 1e-9)


def _within(cell: tuple[int, int], r0: int, c0: int, r1: int, c1: int) -> bool:
    """Whether a region's grid position lies in a ``grid_span`` (exactly as ``encode`` places
    members: a cell's geometric bounds would miss one rounded onto its edge)."""
    return r0 <= cell[0] <= r1 and c0 <= cell[1] <= c1


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
