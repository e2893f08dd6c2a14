"""What only the Redis geo index has: its key layout, region bookkeeping and concurrency."""

from __future__ import annotations

import asyncio
import random

import pytest

from venta_core.domain.cells import encode
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.redis_conn import RedisConnection

from .helpers import bbox, expected_in_box, names

BERLIN = (52.52, 13.405)
PARIS = (48.8566, 2.3522)


async def keys(conn: RedisConnection, prefix: str) -> set[str]:
    return {k async for k in conn.client.scan_iter(match=f"{prefix}:*")}


async def test_key_layout_follows_members_between_regions(
    redis_conn: RedisConnection, prefix: str
) -> None:
    geo = RedisGeoIndex(redis_conn, prefix=prefix, name="trucks")
    base = f"{prefix}:geo:trucks"
    berlin, paris = encode(*BERLIN, 3), encode(*PARIS, 3)
    await geo.set("t1", *BERLIN)
    assert await keys(redis_conn, prefix) == {
        f"{base}:where",
        f"{base}:regions",
        f"{base}:r:{berlin}",
    }
    await geo.set("t1", *PARIS)
    assert await keys(redis_conn, prefix) == {
        f"{base}:where",
        f"{base}:regions",
        f"{base}:r:{paris}",
    }
    assert await redis_conn.client.smembers(f"{base}:regions") == {paris}
    assert await redis_conn.client.zrange(f"{base}:r:{paris}", 0, -1) == ["t1"]
    assert await geo.remove("t1") is True
    assert await keys(redis_conn, prefix) == set()


async def test_concurrent_moves_leave_one_entry(redis_conn: RedisConnection, prefix: str) -> None:
    geo = RedisGeoIndex(redis_conn, prefix=prefix)
    base = f"{prefix}:geo:vendors"
    for _ in range(5):
        await asyncio.gather(*(geo.set("t", *(BERLIN if i % 2 else PARIS)) for i in range(20)))
        await asyncio.gather(geo.set("t", *BERLIN), geo.remove("t"), geo.set("t", *PARIS))
        where = await redis_conn.client.hget(f"{base}:where", "t")
        holders = [
            r
            for r in (encode(*BERLIN, 3), encode(*PARIS, 3))
            if await redis_conn.client.zscore(f"{base}:r:{r}", "t") is not None
        ]
        if where is None:
            assert holders == []
        else:
            assert holders == [str(where).split(" ")[0]]
        regions = await redis_conn.client.smembers(f"{base}:regions")
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
    assert all(k.startswith(f"{prefix}:geo:one-two:") for k in await keys(redis_conn, prefix))


async def test_names_that_could_collide_are_refused(redis_conn: RedisConnection) -> None:
    for name in ("a:b", "a*", ""):
        with pytest.raises(ValueError):
            RedisGeoIndex(redis_conn, prefix="p", name=name)


async def test_check_pings(redis_conn: RedisConnection, prefix: str) -> None:
    await RedisGeoIndex(redis_conn, prefix=prefix).check()
