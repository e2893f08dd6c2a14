"""Clusters benchmark: a whole-city viewport counted by cell, beside box queries of the same area.

    python benchmarks/bench_clusters.py [--sizes 10000,100000] [--queries 30]

For each index (memory; Redis when reachable at VENTA_BENCH_REDIS_URL or redis://127.0.0.1:6379/0)
and each size, N vendors are loaded uniformly within 20 km of Berlin (the workload of
bench_geo.py). Then, in the same run, on the 40 km x 40 km box holding them all (slightly
shifted per query so that nothing is answered from a cache):

- ``clusters``: ``GeoIndex.clusters(box, precision)`` at the precision the real-time gateway and
  ``GET /v1/vendors/clusters`` choose for that box (``location.max_clusters`` = 256 cells);
- ``box limit 100``: ``in_box(box, 100)``, what a nearby query of that area answers;
- ``box 10000``: ``in_box(box, 10000)``, the positions of up to 10,000 vendors: what a client
  would otherwise fetch to draw or count them itself (10,000: a whole city's positions in one
  Redis reply would exceed the connection's read timeout on a busy machine).

p50 and p99 in milliseconds; ``vs box 100`` divides a row's p50 by the ``box limit 100`` p50 of the
same index and size. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import uuid
from pathlib import Path

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench_geo import BERLIN, SPREAD_M, Call, connect_redis, measure, offset, p, vendors

from venta_core.domain.cells import cluster_precision
from venta_core.domain.geo import BoundingBox, Location
from venta_core.ports.geo import GeoIndex
from venta_core.ports.geo_memory import MemoryGeoIndex
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.redis_conn import RedisConnection

MAX_CLUSTERS = 256
SHIFT_M = 200  # each query's box moves by up to this much
MANY = 10_000


def city_boxes(rng: random.Random, n: int) -> list[BoundingBox]:
    out = []
    for _ in range(n):
        lat, long = offset(*BERLIN, rng.uniform(-SHIFT_M, SHIFT_M), rng.uniform(-SHIFT_M, SHIFT_M))
        s, w = offset(lat, long, -SPREAD_M, -SPREAD_M)
        nn, e = offset(lat, long, SPREAD_M, SPREAD_M)
        out.append(BoundingBox(sw=Location(lat=s, long=w), ne=Location(lat=nn, long=e)))
    return out


async def rows_for(
    backend: str, size: int, index: GeoIndex, queries: int
) -> list[tuple[str, int, str, float, float, float]]:
    fleet = vendors(random.Random(1), size)
    await index.set_many(fleet)
    boxes = city_boxes(random.Random(2), queries)
    precision = cluster_precision(boxes[0].parts(), MAX_CLUSTERS)
    found = await index.clusters(boxes[0], precision)
    counted = sum(c.members for c in found)
    print(
        f"{backend} {size:,}: precision {precision}, {len(found)} clusters, "
        f"{counted:,} vendors counted"
    )

    async def clusters(i: int) -> object:
        return await index.clusters(boxes[i], precision)

    async def box_100(i: int) -> object:
        return await index.in_box(boxes[i], 100)

    async def box_many(i: int) -> object:
        return await index.in_box(boxes[i], MANY)

    calls: list[tuple[str, Call]] = [
        ("clusters", clusters),
        ("box limit 100", box_100),
        (f"box {MANY}", box_many),
    ]
    measured = {what: await measure(fn, queries) for what, fn in calls}
    base = p(measured["box limit 100"], 0.5)
    return [
        (backend, size, what, p(lat, 0.5), p(lat, 0.99), p(lat, 0.5) / base)
        for what, lat in measured.items()
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="vendor counts, comma separated")
    parser.add_argument("--queries", type=int, default=30, help="queries per figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    url = os.environ.get("VENTA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    conn: RedisConnection | None = await connect_redis(url)
    prefix = f"venta-bench-{uuid.uuid4().hex[:8]}"
    rows = []
    try:
        for size in sizes:
            rows += await rows_for("memory", size, MemoryGeoIndex(), args.queries)
            if conn is not None:
                index = RedisGeoIndex(conn, prefix=prefix, name=f"c{size}")
                try:
                    rows += await rows_for("redis", size, index, args.queries)
                finally:
                    await index.clear()
    finally:
        if conn is not None:
            leftovers = [k async for k in conn.client.scan_iter(match=f"{prefix}:*")]
            if leftovers:
                await conn.client.unlink(*leftovers)
            await conn.stop()
    print()
    head = f"{'index':<7} {'vendors':>8}  {'figure':<14} {'p50 ms':>9} {'p99 ms':>9}"
    head += f" {'vs box 100':>11}"
    print(head)
    print("-" * len(head))
    for backend, size, what, p50, p99, ratio in rows:
        print(f"{backend:<7} {size:>8,}  {what:<14} {p50:>9.2f} {p99:>9.2f} {ratio:>10.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
