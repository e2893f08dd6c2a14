"""What the client metrics cost: the metered clients against the bare ones, in the same run.

    python benchmarks/bench_client_metrics.py [--calls 5000] [--rounds 3]

- Redis: ``GET`` round trips through ``MeteredRedis`` (what every port uses) and through a bare
  ``redis.asyncio.Redis`` on the same server (``VENTA_BENCH_REDIS_URL``, default
  ``redis://127.0.0.1:6379/0``); skipped when it does not answer.
- NATS: ``--calls`` publishes then one flush through ``MeteredClient`` and through a bare
  nats-py ``Client`` (``VENTA_BENCH_NATS_URL``, default ``nats://127.0.0.1:4222``); skipped
  when it does not answer.
- Database: ``Database.connect()`` (pool checkout metered, under the database guard) against
  ``engine.connect()`` on the same engine, each running ``SELECT 1``, on a SQLite file.

Each pair alternates for ``--rounds`` rounds and keeps each side's best, so a noisy neighbour
hurts both alike. ``metered/bare`` divides the metered time per call by the bare one: 1.00 means
no measurable cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import sqlalchemy as sa
from nats.aio.client import Client
from redis.asyncio import Redis

from venta_core.ports.nats_client import MeteredClient
from venta_core.ports.redis_conn import MeteredRedis
from venta_core.settings import Settings
from venta_core.store.engine import Database

REDIS_URL = os.environ.get("VENTA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("VENTA_BENCH_NATS_URL", "nats://127.0.0.1:4222")

Loop = Callable[[int], Awaitable[None]]


async def best_us(loop: Loop, calls: int, rounds: int) -> float:
    """The best time per call, in microseconds, over ``rounds`` runs of ``loop(calls)``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        await loop(calls)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


async def pair(name: str, metered: Loop, bare: Loop, calls: int, rounds: int) -> None:
    await metered(min(calls, 200))  # warm up both: connections, scripts, caches
    await bare(min(calls, 200))
    metered_us = bare_us = float("inf")
    for _ in range(rounds):  # alternate so that both see the same machine
        metered_us = min(metered_us, await best_us(metered, calls, 1))
        bare_us = min(bare_us, await best_us(bare, calls, 1))
    ratio = metered_us / bare_us
    print(f"{name:<28} {metered_us:>10.1f} {bare_us:>10.1f} {ratio:>13.2f}")


async def redis_pair(calls: int, rounds: int) -> None:
    metered = MeteredRedis.from_url(REDIS_URL, decode_responses=True)
    bare = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"venta-bench-{uuid.uuid4().hex[:8]}"
    try:
        try:
            await bare.set(key, "x", ex=300)
        except Exception as exc:
            print(f"{'redis GET':<28} skipped: no Redis at {REDIS_URL} ({type(exc).__name__})")
            return

        async def through(client: Redis, n: int) -> None:
            for _ in range(n):
                await client.get(key)

        await pair(
            "redis GET round trip",
            lambda n: through(metered, n),
            lambda n: through(bare, n),
            calls,
            rounds,
        )
    finally:
        await bare.delete(key)
        await metered.aclose()
        await bare.aclose()


async def nats_pair(calls: int, rounds: int) -> None:
    metered, bare = MeteredClient(), Client()
    try:
        await metered.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        await bare.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
    except Exception as exc:
        print(f"{'nats publish':<28} skipped: no NATS at {NATS_URL} ({type(exc).__name__})")
        return
    subject = f"venta-bench.{uuid.uuid4().hex[:8]}"

    async def through(client: Client, n: int) -> None:
        for _ in range(n):
            await client.publish(subject, b"x" * 64)
        await client.flush()

    try:
        await pair(
            "nats publish (+ flush)",
            lambda n: through(metered, n),
            lambda n: through(bare, n),
            calls,
            rounds,
        )
    finally:
        await metered.close()
        await bare.close()


async def database_pair(calls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        database = Database(Settings(_env_file=None, database_url=url))
        await database.start()
        select = sa.text("SELECT 1")

        async def metered(n: int) -> None:
            for _ in range(n):
                async with database.connect() as conn:
                    await conn.execute(select)

        async def bare(n: int) -> None:
            for _ in range(n):
                async with database.engine.connect() as conn:
                    await conn.execute(select)

        try:
            await pair("sqlite checkout + SELECT 1", metered, bare, calls // 5, rounds)
        finally:
            await database.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per pair")
    args = parser.parse_args()
    print(f"{'us per call':<28} {'metered':>10} {'bare':>10} {'metered/bare':>13}")
    await redis_pair(args.calls, args.rounds)
    await nats_pair(args.calls, args.rounds)
    await database_pair(args.calls, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
