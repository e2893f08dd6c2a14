"""What only the Redis geo index has: its key layout, region bookkeeping and concurrency, on a
single primary and on a Redis Cluster (the ``redis_conn`` fixture runs each test on both)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from tests.faults import RedisServer, started, warnings_of
from venta_core.domain.cells import encode
from venta_core.domain.geo import Location
from venta_core.errors import ServiceUnavailable
from venta_core.ports.geo import GeoHit
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.redis_conn import RedisConnection

from .helpers import bbox, expected_in_box, names

BERLIN = (52.52, 13.405)
PARIS = (48.8566, 2.3522)


async def keys(conn: RedisConnection, prefix: str) -> set[str]:
    patterns = (f"{prefix}:*", f"{{{prefix}:*")  # hash-tagged keys start with a brace
    return {k for pattern in patterns async for k in conn.client.scan_iter(match=pattern)}


def meta(conn: RedisConnection, base: str) -> str:
    """Prefix of the index-wide keys (``where``, ``regions``): one hash slot on a cluster."""
    return f"{{{base}}}" if conn.cluster else base


async def test_key_layout_follows_members_between_regions(
    redis_conn: RedisConnection, prefix: str
) -> None:
    geo = RedisGeoIndex(redis_conn, prefix=prefix, name="trucks")
    base = f"{prefix}:geo:trucks"
    where, regions = f"{meta(redis_conn, base)}:where", f"{meta(redis_conn, base)}:regions"
    berlin, paris = encode(*BERLIN, 3), encode(*PARIS, 3)
    await geo.set("t1", *BERLIN)
    assert await keys(redis_conn, prefix) == {where, regions, f"{base}:r:{berlin}"}
    await geo.set("t1", *PARIS)
    assert await keys(redis_conn, prefix) == {where, regions, f"{base}:r:{paris}"}
    assert await redis_conn.client.smembers(regions) == {paris}
    assert await redis_conn.client.zrange(f"{base}:r:{paris}", 0, -1) == ["t1"]
    assert await geo.remove("t1") is True
    assert await keys(redis_conn, prefix) == set()


async def test_concurrent_moves_leave_one_entry(redis_conn: RedisConnection, prefix: str) -> None:
    geo = RedisGeoIndex(redis_conn, prefix=prefix)
    base = f"{prefix}:geo:vendors"
    bookkeeping = meta(redis_conn, base)
    for _ in range(5):
        await asyncio.gather(*(geo.set("t", *(BERLIN if i % 2 else PARIS)) for i in range(20)))
        await asyncio.gather(geo.set("t", *BERLIN), geo.remove("t"), geo.set("t", *PARIS))
        where = await redis_conn.client.hget(f"{bookkeeping}:where", "t")
        holders = [
            r
            for r in (encode(*BERLIN, 3), encode(*PARIS, 3))
            if await redis_conn.client.zscore(f"{base}:r:{r}", "t") is not None
        ]
        if where is None:
            assert holders == []
        else:
            assert holders == [str(where).split(" ")[0]]
        regions = await redis_conn.client.smembers(f"{bookkeeping}:regions")
        assert set(holders) <= regions


async def test_many_small_regions_fall_back_to_the_region_set(
    redis_conn: RedisConnection, prefix: str
) -> None:
    geo = RedisGeoIndex(redis_conn, prefix=prefix, region_precision=5)
    rng = random.Random(3)
    points = {f"p{i}": (rng.uniform(52.0, 53.0), rng.uniform(13.0, 14.0)) for i in range(300)}
    await geo.set_many([(m, la, lo) for m, (la, lo) in points.items()])
    box = bbox(52.1, 13.1, 52.9, 13.9)  # ~ 18 x 18 cells of precision 5: past the budget
    assert names(await geo.in_box(box, 1000)) == expected_in_box(points, box, 1000)
    assert len(await geo.in_box(box, 7)) == 7


async def test_clear_only_touches_its_own_index(redis_conn: RedisConnection, prefix: str) -> None:
    one = RedisGeoIndex(redis_conn, prefix=prefix, name="one")
    two = RedisGeoIndex(redis_conn, prefix=prefix, name="one-two")
    await one.set("a", *BERLIN)
    await two.set("a", *PARIS)
    await one.clear()
    assert await one.count() == 0
    assert await two.count() == 1
    base = meta(redis_conn, f"{prefix}:geo:one-two")
    left = await keys(redis_conn, prefix)
    assert left and all(k.startswith((f"{prefix}:geo:one-two:", base)) for k in left)


async def test_names_that_could_collide_are_refused(redis_conn: RedisConnection) -> None:
    for name in ("a:b", "a*", ""):
        with pytest.raises(ValueError):
            RedisGeoIndex(redis_conn, prefix="p", name=name)


async def test_check_pings(redis_conn: RedisConnection, prefix: str) -> None:
    await RedisGeoIndex(redis_conn, prefix=prefix).check()


async def test_a_member_in_two_region_keys_is_shown_once_where_it_is(
    redis_conn: RedisConnection, prefix: str
) -> None:
    """A move between regions briefly leaves a member in both region keys: queries judge it on
    its recorded position and show it once."""
    geo = RedisGeoIndex(redis_conn, prefix=prefix, region_precision=5)
    base = f"{prefix}:geo:vendors"
    here, there = (52.52, 13.405), (52.52, 13.505)  # ~7 km apart, different precision-5 cells
    assert encode(*here, 5) != encode(*there, 5)
    await geo.set("a", *here)
    await redis_conn.client.geoadd(f"{base}:r:{encode(*there, 5)}", [there[1], there[0], "a"])
    hits = await geo.in_box(bbox(52.4, 13.3, 52.6, 13.6), 10)
    assert [(h.member, h.lat, h.long) for h in hits] == [("a", *here)]


async def test_cluster_queries_never_show_entries_left_behind(
    cluster_conn: RedisConnection, prefix: str
) -> None:
    """A process that dies between the steps of a move can leave a member in its old region key;
    on a cluster every candidate is checked against ``where``, so the leftover is never shown,
    not even after the member is removed."""
    geo = RedisGeoIndex(cluster_conn, prefix=prefix)
    base = f"{prefix}:geo:vendors"
    await geo.set("a", *BERLIN)
    await cluster_conn.client.geoadd(f"{base}:r:{encode(*PARIS, 3)}", [PARIS[1], PARIS[0], "a"])
    paris = bbox(48.5, 2.0, 49.0, 2.5)
    assert await geo.in_box(paris, 10) == []
    assert await geo.near(Location(lat=PARIS[0], long=PARIS[1]), 10_000, 10) == []
    assert names(await geo.in_box(bbox(52.0, 13.0, 53.0, 14.0), 10)) == ["a"]
    assert await geo.remove("a") is True
    assert await geo.in_box(paris, 10) == []
    assert await geo.in_box(bbox(52.0, 13.0, 53.0, 14.0), 10) == []


async def test_cluster_spreads_region_keys_and_keeps_the_bookkeeping_in_one_slot(
    cluster_conn: RedisConnection, prefix: str
) -> None:
    client = cluster_conn.client
    assert isinstance(client, RedisCluster)
    geo = RedisGeoIndex(cluster_conn, prefix=prefix)
    rng = random.Random(5)
    points = [(f"m{i}", rng.uniform(-60, 60), rng.uniform(-180, 180)) for i in range(200)]
    await geo.set_many(points)
    base = f"{prefix}:geo:vendors"
    region_keys = {k for k in await keys(cluster_conn, prefix) if k.startswith(f"{base}:r:")}
    assert len(region_keys) > 50
    nodes = {client.get_node_from_key(k).name for k in region_keys}
    assert len(nodes) == len(client.get_primaries()) == 3  # positions are on every shard
    assert client.keyslot(f"{{{base}}}:where") == client.keyslot(f"{{{base}}}:regions")
    # What a single primary's one-script move would need, a cluster refuses.
    with pytest.raises(RedisClusterException):
        await client.eval("return 1", 2, f"{base}:where", sorted(region_keys)[0])


async def test_cluster_write_overtaken_by_another_settles_on_the_last_one(
    cluster_conn: RedisConnection, prefix: str
) -> None:
    """Each cluster write swaps ``where``, then acts on the region keys, then reads ``where``
    back. A second write that runs entirely between the first one's swap and its action (the
    first then acts on a stale value) is detected by that read and repaired."""

    class Overtaken(RedisGeoIndex):
        interleave: list[tuple[float, float]] = []

        async def _act(self, pending: Any, emptied: set[str]) -> set[str]:
            if self.interleave:
                await other.set("t", *self.interleave.pop())
            return await super()._act(pending, emptied)

    geo = Overtaken(cluster_conn, prefix=prefix)
    other = RedisGeoIndex(cluster_conn, prefix=prefix)
    base = f"{prefix}:geo:vendors"
    for first, second in ((BERLIN, PARIS), (PARIS, BERLIN), (BERLIN, (52.53, 13.41))):
        geo.interleave = [second]
        await geo.set("t", *first)  # acts after `other` moved "t" to `second`
        assert await geo.get("t") == GeoHit("t", *second)
        holders = {
            r: await cluster_conn.client.geopos(f"{base}:r:{r}", "t")
            for r in {encode(*BERLIN, 3), encode(*PARIS, 3)}
        }
        held = {r: pos for r, pos in holders.items() if pos[0] is not None}
        assert list(held) == [encode(*second, 3)]
        ((long, lat),) = held[encode(*second, 3)]
        assert (lat, long) == pytest.approx(second, abs=1e-5)
    geo.interleave = []
    await geo.remove("t")
    assert await keys(cluster_conn, prefix) == set()


async def test_concurrent_writers_leave_consistent_bookkeeping(
    redis_conn: RedisConnection, prefix: str
) -> None:
    """Many writers moving a few members between a few regions at once: afterwards every member
    is in exactly the region key ``where`` names, at its position, and ``regions`` lists exactly
    the non-empty region keys."""
    geo = RedisGeoIndex(redis_conn, prefix=prefix, region_precision=5)
    base = f"{prefix}:geo:vendors"
    bookkeeping = meta(redis_conn, base)
    rng = random.Random(11)
    spots = [(52.52 + 0.05 * i, 13.405 + 0.07 * j) for i in range(2) for j in range(3)]
    members = [f"v{i}" for i in range(8)]

    async def writer(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(15):
            op = r.random()
            if op < 0.6:
                await geo.set(r.choice(members), *r.choice(spots))
            elif op < 0.85:
                await geo.set_many([(m, *r.choice(spots)) for m in r.sample(members, 3)])
            else:
                await geo.remove(r.choice(members))

    await asyncio.gather(*(writer(rng.randrange(10**9)) for _ in range(12)))
    cells = {encode(*spot, 5) for spot in spots}
    where = await redis_conn.client.hgetall(f"{bookkeeping}:where")
    for m in members:
        held = {}
        for cell in cells:
            (pos,) = await redis_conn.client.geopos(f"{base}:r:{cell}", m)
            if pos is not None:
                held[cell] = pos
        if m not in where:
            assert held == {}, m
            continue
        region, lat, long = where[m].split(" ")
        assert list(held) == [region], m
        assert (held[region][1], held[region][0]) == pytest.approx(
            (float(lat), float(long)), abs=1e-5
        )
    non_empty = {c for c in cells if await redis_conn.client.exists(f"{base}:r:{c}")}
    assert await redis_conn.client.smembers(f"{bookkeeping}:regions") == non_empty


async def test_cluster_keeps_a_region_refilled_while_it_is_forgotten(
    cluster_conn: RedisConnection, prefix: str
) -> None:
    """A write that empties a region key drops the region from ``regions`` (not atomically with
    the key, on a cluster). A write filling the region again meanwhile must not be lost to
    queries that enumerate ``regions``."""

    class Refilled(RedisGeoIndex):
        async def _forget(self, regions: set[str]) -> None:
            await other.set("b", *BERLIN)  # between the emptying ZREM and the SREM
            await super()._forget(regions)

    geo = Refilled(cluster_conn, prefix=prefix, region_precision=5)
    other = RedisGeoIndex(cluster_conn, prefix=prefix, region_precision=5)
    await geo.set("a", *BERLIN)
    await geo.set("a", *PARIS)  # empties Berlin's region key, which "b" refills
    regions = await cluster_conn.client.smembers(f"{{{prefix}:geo:vendors}}:regions")
    assert regions == {encode(*BERLIN, 5), encode(*PARIS, 5)}
    huge = bbox(40.0, 0.0, 60.0, 20.0)  # too many precision-5 cells: enumerates `regions`
    assert sorted(names(await geo.in_box(huge, 10))) == ["a", "b"]


class Batches(RedisGeoIndex):
    """Notes the size of each batch of ``set`` calls sent in one go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    async def _flush_sets(self, moves: list[tuple[str, float, float]]) -> list[Any]:
        self.batches.append(len(moves))
        return await super()._flush_sets(moves)


async def test_sets_made_together_share_round_trips_and_apply_in_order(
    redis_conn: RedisConnection, prefix: str
) -> None:
    """Concurrent ``set`` calls go out in batches (one pipeline on a single primary, one settled
    write on a cluster), applied in the order they were made: the last one wins, in ``where``
    and in the one region key holding the member."""
    geo = Batches(redis_conn, prefix=prefix)
    base = f"{prefix}:geo:vendors"
    towns = [BERLIN, PARIS, (40.4168, -3.7038)]
    for last in range(3):
        moves = [towns[(last + 1 + i) % 3] for i in range(30)]  # ends in towns[last]
        others = [geo.set(f"o{i}", *towns[i % 3]) for i in range(20)]
        await asyncio.gather(*(geo.set("t", *move) for move in moves), *others)
        assert await geo.get("t") == GeoHit("t", *towns[last])
        holders = [
            encode(*town, 3)
            for town in towns
            if await redis_conn.client.zscore(f"{base}:r:{encode(*town, 3)}", "t") is not None
        ]
        assert holders == [encode(*towns[last], 3)]
    assert sum(geo.batches) == 150
    assert max(geo.batches) > 1
    assert await geo.count() == 21


async def test_a_failing_move_in_a_batch_fails_its_own_caller_only(
    redis_conn: RedisConnection, prefix: str
) -> None:
    if redis_conn.cluster:
        pytest.skip("a cluster write is settled as a whole")
    geo = Batches(redis_conn, prefix=prefix)
    tokyo = (35.6762, 139.6503)
    await redis_conn.client.set(f"{prefix}:geo:vendors:r:{encode(*tokyo, 3)}", "not a geo set")
    results = await asyncio.gather(
        geo.set("a", *BERLIN), geo.set("b", *tokyo), geo.set("c", *PARIS), return_exceptions=True
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ResponseError) and "WRONGTYPE" in str(results[1])
    assert geo.batches == [1, 2]  # "a" alone, then "b" and "c" in one script
    assert await geo.get("c") == GeoHit("c", *PARIS)
    assert names(await geo.near(Location(lat=BERLIN[0], long=BERLIN[1]), 1_000, 10)) == ["a"]


async def test_a_redis_outage_fails_every_caller_of_a_batch_until_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis of the test's own goes down under concurrent moves: every caller gets
    ``ServiceUnavailable`` (the outage logged once), none waits forever; when Redis is back
    (empty, its script cache too) the moves go through in batches again."""
    with started(RedisServer(tmp_path)) as server:
        conn = RedisConnection(server.url)
        await conn.start()
        try:
            geo = Batches(conn, prefix="outage")
            await asyncio.gather(*(geo.set(f"v{i}", *BERLIN) for i in range(20)))
            server.stop()
            moves = [geo.set(f"v{i}", *PARIS) for i in range(20)]
            results = await asyncio.gather(*moves, return_exceptions=True)
            assert all(isinstance(r, ServiceUnavailable) for r in results), results
            (warning,) = warnings_of(caplog)
            assert "redis" in warning
            server.start()
            await asyncio.gather(*(geo.set(f"v{i}", *PARIS) for i in range(20)))
            assert await geo.count() == 20
            assert await geo.get("v7") == GeoHit("v7", *PARIS)
            assert sum(geo.batches[-2:]) == 20  # one alone, then the 19 others together
        finally:
            await conn.stop()
