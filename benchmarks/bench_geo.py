"""Geo index benchmark: box queries and location updates, through the index and on the bare backend.

    python benchmarks/bench_geo.py [--sizes 10000,100000] [--queries 1000] [--updates 5000]

For each index (memory; Redis when reachable at VENTA_BENCH_REDIS_URL or redis://127.0.0.1:6379/0;
a Redis Cluster when VENTA_BENCH_REDIS_CLUSTER_URL names one, e.g.
redis+cluster://127.0.0.1:7000) and each size, N vendors are loaded uniformly within 20 km of
Berlin. Then, in the same run:

- box queries (district-sized boxes at random places, limit 100): p50/p99 latency through the
  index, and on the raw backend (memory: a linear scan of a dict; Redis: one GEOSEARCH BYBOX on a
  single GEO key holding every vendor);
- location updates (each vendor moves a few tens of metres): updates/s through ``set`` one by one
  and ``set_many`` in batches, and on the raw backend (memory: dict writes; Redis: GEOADD one by
  one and in one pipeline per batch);
- location ingest on Redis: ``CONCURRENCY`` vendors streaming their positions at once through the
  location service, against as many concurrent bare GEOADDs and a pipelined batch, and the p50
  of an isolated update; each with the index as it is (concurrent writes coalesced into one round
  trip) and without coalescing (every ``set`` its own round trip: the index before); with the
  live positions published on NATS too, when it answers at VENTA_BENCH_NATS_URL (default
  nats://127.0.0.1:4222).

Every figure comes from ``measure(fn, n)``, so a new column (e.g. through the location service)
is one more callable per row. See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from service_harness import OWNER, location_service

from venta_core.domain.geo import BoundingBox, Location, haversine_raw
from venta_core.ports.bus import EventBus
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.geo import GeoIndex
from venta_core.ports.geo_memory import MemoryGeoIndex, storable
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.redis_conn import RedisConnection, redact_url
from venta_core.services.locations import LocalLocationService

BERLIN = (52.52, 13.405)
SPREAD_M = 20_000
BOX_M = (4_000, 3_000)  # width, height of a query box: a city district
LIMIT = 100
BATCH = 1_000
MOVE_M = 50
#: Scanning every vendor per query is slow; the raw memory baseline runs fewer queries.
LINEAR_SCAN_BUDGET = 2_000_000
M_PER_DEG_LAT = 111_195.0
#: Vendors streaming their positions at the same time in the ingest figures.
CONCURRENCY = 50
#: Rounds of the ingest rates (each rate: its best round).
ROUNDS = 3
#: Isolated updates per turn when the p50s before and after are measured in turns.
P50_CHUNK = 50

Call = Callable[[int], Awaitable[object]]
Position = tuple[str, float, float]


async def measure(fn: Call, n: int) -> list[float]:
    """Seconds taken by each of ``fn(0) .. fn(n - 1)``, called one after the other."""
    latencies: list[float] = []
    clock = time.perf_counter
    for i in range(n):
        start = clock()
        await fn(i)
        latencies.append(clock() - start)
    return latencies


async def concurrently(fn: Call, n: int, workers: int = CONCURRENCY) -> float:
    """Calls per second of ``fn(0) .. fn(n - 1)`` made by ``workers`` tasks at once, worker ``k``
    making calls ``k``, ``k + workers``, ... one after the other (wall time over all of them)."""

    async def worker(k: int) -> None:
        for i in range(k, n, workers):
            await fn(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(workers)))
    return n / (time.perf_counter() - start)


def p(latencies: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) in milliseconds."""
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def rate(latencies: list[float], per_call: int = 1) -> float:
    return per_call * len(latencies) / sum(latencies)


# -- workload -------------------------------------------------------------------------------------


def offset(lat: float, long: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / M_PER_DEG_LAT,
        long + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def vendors(rng: random.Random, n: int) -> list[Position]:
    out = []
    for _ in range(n):
        r, a = SPREAD_M * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        vendor_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append((vendor_id, *offset(*BERLIN, r * math.cos(a), r * math.sin(a))))
    return out


def boxes(rng: random.Random, n: int) -> list[BoundingBox]:
    out = []
    for lat, long in (p[1:] for p in vendors(rng, n)):
        s, w = offset(lat, long, -BOX_M[1] / 2, -BOX_M[0] / 2)
        nn, e = offset(lat, long, BOX_M[1] / 2, BOX_M[0] / 2)
        out.append(BoundingBox(sw=Location(lat=s, long=w), ne=Location(lat=nn, long=e)))
    return out


def moves(rng: random.Random, fleet: list[Position], n: int) -> list[Position]:
    out = []
    for _ in range(n):
        member, lat, long = rng.choice(fleet)
        out.append((member, *offset(lat, long, rng.uniform(-MOVE_M, MOVE_M), MOVE_M)))
    return out


# -- the raw backends -----------------------------------------------------------------------------


def linear_scan(points: dict[str, tuple[float, float]]) -> Callable[[BoundingBox], object]:
    def scan(box: BoundingBox) -> object:
        c = box.center
        hits = [
            (haversine_raw(c.lat, c.long, lat, long), m)
            for m, (lat, long) in points.items()
            if box.contains(lat, long)
        ]
        hits.sort()
        return hits[:LIMIT]

    return scan


def bybox(box: BoundingBox) -> tuple[float, float, float, float]:
    """GEOSEARCH FROMLONLAT/BYBOX arguments for ``box``: long, lat, width and height in metres."""
    c = box.center
    width = haversine_raw(c.lat, box.sw.long, c.lat, box.ne.long)
    return c.long, c.lat, width, haversine_raw(box.sw.lat, c.long, box.ne.lat, c.long)


# -- one run --------------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    size: int
    what: str
    values: dict[str, float] = field(default_factory=dict)  # column -> figure
    raw_is: str = ""


@dataclass
class Workload:
    fleet: list[Position]
    queries: list[BoundingBox]
    updates: list[Position]

    @classmethod
    def make(cls, size: int, n_queries: int, n_updates: int) -> Workload:
        rng = random.Random(size)
        fleet = vendors(rng, size)
        return cls(fleet, boxes(rng, n_queries), moves(rng, fleet, n_updates))

    def streams(self) -> list[Position]:
        """``len(updates)`` positions of the first ``CONCURRENCY`` vendors, update ``i`` moving
        vendor ``i % CONCURRENCY`` up to ``MOVE_M`` from where it started (a vendor streaming its
        position moves metres at a time): with ``concurrently``, each worker streams one
        vendor."""
        rng = random.Random(len(self.fleet) + 1)
        out = []
        for i in range(len(self.updates)):
            member, lat, long = self.fleet[i % CONCURRENCY]
            north, east = rng.uniform(-MOVE_M, MOVE_M), rng.uniform(-MOVE_M, MOVE_M)
            out.append((member, *offset(lat, long, north, east)))
        return out

    def batches(self) -> list[list[Position]]:
        return [self.updates[i : i + BATCH] for i in range(0, len(self.updates), BATCH)]


@dataclass
class Raw:
    """The bare backend's twin of each operation, and what it is (printed beside its figure)."""

    query: Call
    set_one: Call
    set_batch: Call
    describe: tuple[str, str, str]  # query, set_one, set_batch
    queries: int  # how many queries to run (a linear scan is slow)


async def bench_memory(size: int, work: Workload) -> list[Row]:
    index = MemoryGeoIndex()
    await index.set_many(work.fleet)
    points = {m: (lat, long) for m, lat, long in work.fleet}
    scan = linear_scan(points)
    batches = work.batches()

    async def query(i: int) -> object:
        return scan(work.queries[i])

    async def set_one(i: int) -> None:
        m, lat, long = work.updates[i]
        points[m] = (lat, long)

    async def set_batch(i: int) -> None:
        points.update((m, (lat, long)) for m, lat, long in batches[i])

    n_scan = max(10, min(len(work.queries), LINEAR_SCAN_BUDGET // size))
    describe = ("linear scan of a dict", "dict write", f"dict update x{BATCH}")
    return await rows_for(
        "memory", size, index, work, Raw(query, set_one, set_batch, describe, n_scan)
    )


async def bench_redis(
    conn: RedisConnection,
    prefix: str,
    size: int,
    work: Workload,
    backend: str = "redis",
    nats: EventBus | None = None,
) -> tuple[list[Row], Ingest]:
    index = RedisGeoIndex(conn, prefix=prefix, name=f"bench{size}")
    client = conn.client
    key = f"{prefix}:raw{size}"
    batches = work.batches()

    async def query(i: int) -> object:
        long, lat, width, height = bybox(work.queries[i])
        return await client.geosearch(
            key, longitude=long, latitude=lat, width=width, height=height, unit="m",
            sort="ASC", count=LIMIT, withcoord=True, withdist=True,
        )  # fmt: skip

    async def set_one(i: int) -> object:
        m, lat, long = work.updates[i]
        return await client.geoadd(key, [long, lat, m])

    async def set_batch(i: int) -> object:
        async with client.pipeline(transaction=False) as pipe:
            for m, lat, long in batches[i]:
                pipe.geoadd(key, [long, lat, m])
            return await pipe.execute()

    async def set_one_at(position: Position) -> object:
        m, lat, long = position
        return await client.geoadd(key, [long, lat, m])

    describe = ("GEOSEARCH BYBOX, one key", "GEOADD", f"GEOADD x{BATCH}, pipelined")
    raw = Raw(query, set_one, set_batch, describe, len(work.queries))
    try:
        await index.set_many(work.fleet)
        for i in range(0, size, BATCH):
            await client.geoadd(
                key, [x for m, la, lo in work.fleet[i : i + BATCH] for x in (lo, la, m)]
            )
        rows = await rows_for(backend, size, index, work, raw)
        before = Uncoalesced(conn, prefix=prefix, name=f"bench{size}")  # the same keys
        pipelined = next(r.values["raw"] for r in rows if r.what.startswith("set_many"))
        bus = (nats, prefix) if nats is not None else None
        ingest = await ingest_redis(index, before, work, set_one_at, bus)
        return rows, Ingest(backend, size, pipelined=pipelined, **ingest)
    finally:
        await index.clear()
        await client.unlink(key)


class Uncoalesced(RedisGeoIndex):
    """The Redis index with every ``set`` its own round trip: the index before its writes were
    coalesced (a lone ``set`` takes exactly this path)."""

    async def set(self, member: str, lat: float, long: float) -> None:
        with self._conn.dependency.guard():
            await self._flush_sets([(member, *storable(lat, long))])


@dataclass
class Ingest:
    """Location ingest on one Redis: updates/s with ``CONCURRENCY`` vendors at once, and the
    p50 of an isolated update through the service; ``*_before``: without coalescing."""

    backend: str
    size: int
    service: float
    service_before: float
    index: float
    index_before: float
    raw: float  # bare GEOADDs, CONCURRENCY at once
    pipelined: float  # bare GEOADDs, BATCH per pipeline, one pipeline at a time
    p50: float
    p50_before: float
    nats: float | None = None  # service updates/s with the live positions published on NATS
    nats_before: float | None = None


async def ingest_redis(
    index: GeoIndex,
    before: GeoIndex,
    work: Workload,
    raw_set: Callable[[Position], Awaitable[object]],
    nats: tuple[EventBus, str] | None = None,
) -> dict[str, float]:
    """The ingest figures. Rates: the best of ``ROUNDS`` rounds alternating the index and its
    uncoalesced twin, which goes first in every other round (the machine is shared: the best
    round is the least disturbed one). p50s: the isolated updates interleaved between the two
    in chunks of ``P50_CHUNK``, so that both see the same load."""
    streams = work.streams()
    n = len(streams)
    ids = sorted({m for m, _, _ in streams} | {m for m, _, _ in work.updates})
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    async def raw(i: int) -> object:
        return await raw_set(streams[i])

    for r in range(ROUNDS):
        order = [("_before", before), ("", index)]
        if r % 2:
            order.reverse()
        note("raw", await concurrently(raw, n))
        for suffix, geo in order:
            note(f"index{suffix}", await concurrently(lambda i, g=geo: g.set(*streams[i]), n))
        for suffix, geo in order:
            async with location_service(geo, ids) as service:
                note(f"service{suffix}", await concurrently(updater(service, streams), n))
            if nats is not None:
                bus, root = nats
                async with location_service(geo, ids, bus, root) as service:
                    note(f"nats{suffix}", await concurrently(updater(service, streams), n))
    best = {k: max(v) for k, v in figures.items()}
    async with location_service(before, ids) as was, location_service(index, ids) as now:
        p50s = await interleaved(updater(was, work.updates), updater(now, work.updates), n)
    best["p50_before"], best["p50"] = (p(latencies, 0.5) for latencies in p50s)
    return best


async def interleaved(first: Call, second: Call, n: int) -> tuple[list[float], list[float]]:
    """Latencies of ``first(i)`` and ``second(i)`` for ``i`` in ``range(n)``, run one after the
    other in chunks of ``P50_CHUNK``, taking turns to go first."""
    a: list[float] = []
    b: list[float] = []
    for k, start in enumerate(range(0, n, P50_CHUNK)):
        size = min(n, start + P50_CHUNK) - start
        pair = [(first, a), (second, b)]
        for fn, into in pair if k % 2 == 0 else reversed(pair):
            into += await measure(lambda i, f=fn, s=start: f(s + i), size)
    return a, b


def updater(service: LocalLocationService, positions: list[Position]) -> Call:
    """A call that sends ``positions[i]`` through ``service.update_vendor_location``."""

    async def update(i: int) -> object:
        member, lat, long = positions[i]
        return await service.update_vendor_location(OWNER, member, Location(lat=lat, long=long))

    return update


async def rows_for(backend: str, size: int, index: GeoIndex, work: Workload, raw: Raw) -> list[Row]:
    """Each operation through ``index`` and on the raw backend, one row per figure."""
    batches = work.batches()
    per_batch = round(statistics.mean(len(b) for b in batches))

    async def query(i: int) -> object:
        return await index.in_box(work.queries[i], LIMIT)

    async def set_one(i: int) -> None:
        await index.set(*work.updates[i])

    async def set_batch(i: int) -> None:
        await index.set_many(batches[i])

    q = await measure(query, len(work.queries)), await measure(raw.query, raw.queries)
    u = await measure(set_one, len(work.updates)), await measure(raw.set_one, len(work.updates))
    b = await measure(set_batch, len(batches)), await measure(raw.set_batch, len(batches))
    sq, su = await through_service(index, work)
    figures = [
        ("box query p50 ms", p(q[0], 0.5), p(q[1], 0.5), p(sq, 0.5), raw.describe[0]),
        ("box query p99 ms", p(q[0], 0.99), p(q[1], 0.99), p(sq, 0.99), raw.describe[0]),
        ("set() updates/s", rate(u[0]), rate(u[1]), rate(su), raw.describe[1]),
        ("set_many updates/s", rate(b[0], per_batch), rate(b[1], per_batch), None, raw.describe[2]),
    ]
    return [
        Row(backend, size, what, _values(mine, bare, service), raw_is)
        for what, mine, bare, service, raw_is in figures
    ]


def _values(index: float, raw: float, service: float | None) -> dict[str, float]:
    values = {"index": index, "raw": raw}
    if service is not None:
        values["service"] = service
    return values


async def through_service(index: GeoIndex, work: Workload) -> tuple[list[float], list[float]]:
    """Box queries and single updates through ``LocalLocationService`` on the same index."""
    async with location_service(index, [m for m, _, _ in work.fleet]) as service:

        async def query(i: int) -> object:
            return await service.vendors_in_box(work.queries[i], LIMIT)

        async def update(i: int) -> object:
            member, lat, long = work.updates[i]
            return await service.update_vendor_location(OWNER, member, Location(lat=lat, long=long))

        return await measure(query, len(work.queries)), await measure(update, len(work.updates))


# -- output ---------------------------------------------------------------------------------------

COLUMNS = [("index", "through index"), ("service", "through service"), ("raw", "raw backend")]


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"


def print_table(rows: list[Row]) -> None:
    head = f"{'index':<7} {'vendors':>8}  {'figure':<20}"
    head += "".join(f" {title:>14}" for _, title in COLUMNS)
    head += f" {'index/raw':>10} {'service/raw':>11}  raw backend is"
    print(head)
    print("-" * len(head))
    for row in rows:
        line = f"{row.backend:<7} {row.size:>8,}  {row.what:<20}"
        line += "".join(f" {fmt(row.values.get(key)):>14}" for key, _ in COLUMNS)
        raw = row.values["raw"]
        service = row.values.get("service")
        service_ratio = f"{service / raw:>10.2f}x" if service is not None else f"{'-':>11}"
        line += f" {row.values['index'] / raw:>9.2f}x {service_ratio}  {row.raw_is}"
        print(line)


def print_ingest(ingests: list[Ingest]) -> None:
    """The ingest figures: after (writes coalesced) and before (every set() its own round
    trip), and the rates against the bare GEOADD baselines of the same run."""
    c = CONCURRENCY
    print(
        f"location ingest: {c} vendors streaming at once; 'before' = every set() its own round"
        f" trip; rates: best of {ROUNDS} alternated rounds; p50s: measured in alternating turns"
    )
    head = f"{'index':<7} {'vendors':>8}  {'figure':<28} {'after':>9} {'before':>9} {'ratio':>7}"
    head += f" {f'/GEOADD x{c}':>13} {'/pipelined':>11}"
    print(head)
    print("-" * len(head))
    for i in ingests:
        lead = f"{i.backend:<7} {i.size:>8,}  "
        rates = [(f"service updates/s, x{c}", i.service, i.service_before)]
        if i.nats is not None and i.nats_before is not None:
            rates.append((f"  the same, NATS bus, x{c}", i.nats, i.nats_before))
        rates.append((f"index set() updates/s, x{c}", i.index, i.index_before))
        for what, after, before in rates:
            line = f"{lead}{what:<28} {fmt(after):>9} {fmt(before):>9} {after / before:>6.2f}x"
            print(f"{line} {after / i.raw:>12.2f}x {after / i.pipelined:>10.2f}x")
        print(f"{lead}{f'raw GEOADD updates/s, x{c}':<28} {fmt(i.raw):>9}")
        print(f"{lead}{f'raw GEOADD x{BATCH} pipelined/s':<28} {fmt(i.pipelined):>9}")
        p50 = f"{fmt(i.p50):>9} {fmt(i.p50_before):>9} {i.p50 / i.p50_before:>6.2f}x"
        print(f"{lead}{'service update p50 ms':<28} {p50}")


async def connect_nats(url: str) -> EventBus | None:
    bus = NatsEventBus(url)
    try:
        await asyncio.wait_for(bus.start(), timeout=3)
    except Exception as exc:
        print(f"nats: skipped, unreachable at {redact_url(url)} ({exc or type(exc).__name__})")
        return None
    return bus


async def connect_redis(url: str) -> RedisConnection | None:
    conn = RedisConnection(url)
    await conn.start()
    try:
        await asyncio.wait_for(conn.check(), timeout=3)
    except Exception as exc:
        print(f"redis: skipped, unreachable at {redact_url(url)} ({exc or type(exc).__name__})")
        await conn.stop()
        return None
    return conn


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="vendor counts, comma separated")
    parser.add_argument("--queries", type=int, default=1000, help="box queries per size")
    parser.add_argument("--updates", type=int, default=5000, help="location updates per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    url = os.environ.get("VENTA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    cluster_url = os.environ.get("VENTA_BENCH_REDIS_CLUSTER_URL")
    nats_url = os.environ.get("VENTA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
    print(
        f"vendors uniform within {SPREAD_M / 1000:g} km of Berlin; boxes {BOX_M[0] / 1000:g} x "
        f"{BOX_M[1] / 1000:g} km, limit {LIMIT}; {args.queries} queries, {args.updates} updates"
    )
    rows: list[Row] = []
    ingests: list[Ingest] = []
    conns: list[tuple[str, RedisConnection]] = []
    for backend, backend_url in (("redis", url), ("cluster", cluster_url)):
        conn = await connect_redis(backend_url) if backend_url else None
        if conn is not None:
            conns.append((backend, conn))
    prefix = f"venta-bench-{uuid.uuid4().hex[:8]}"
    nats = await connect_nats(nats_url) if conns else None
    try:
        for size in sizes:
            work = Workload.make(size, args.queries, args.updates)
            rows += await bench_memory(size, work)
            for backend, conn in conns:
                redis_rows, ingest = await bench_redis(conn, prefix, size, work, backend, nats)
                rows += redis_rows
                ingests.append(ingest)
    finally:
        for _, conn in conns:
            patterns = (f"{prefix}:*", f"{{{prefix}:*")  # hash-tagged keys on a cluster
            leftovers = [k for p in patterns async for k in conn.client.scan_iter(match=p)]
            if leftovers:
                await conn.client.unlink(*leftovers)
            await conn.stop()
        if nats is not None:
            await nats.stop()
    print()
    print_table(rows)
    if ingests:
        print()
        print_ingest(ingests)


if __name__ == "__main__":
    asyncio.run(main())
