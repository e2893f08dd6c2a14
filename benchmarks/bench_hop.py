"""The cost of a gRPC hop: gateway latency and throughput, in-process vs split over gRPC.

    python benchmarks/bench_hop.py [--requests 300] [--duration 3] [--concurrency 16]
                                   [--venta "COMMAND"]

Two topologies on the same PostgreSQL, Redis and NATS (loopback), driven the same way:

- in-process: `venta serve gateway` alone, every service in the gateway process;
- split: `venta serve grpc --service user|vendor|location` and `venta serve gateway` with
  VENTA_SERVICES__*__ADDRESS pointing at them (the vendor and box requests cross one hop).

For GET /v1/vendors/{id} and the box query GET /v1/vendors/nearby?swLat..., it prints the
p50/p99 latency of one sequential client (--requests requests, at most --duration seconds), the
throughput of --concurrency concurrent clients for --duration seconds, and split/in-process
ratios. --venta is the command that runs venta (default: the `venta` next to this Python), to
measure another build of the same code. Every request goes through real HTTP on
loopback with httpx, so both columns include the same client and HTTP cost. The database is
fresh (`venta_bench_<random>`, dropped at the end), the data is seeded once and shared by both
topologies. Rate limits are off and logs at WARNING in both. A default run takes about 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy.engine import make_url

from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings

VENTA = [str(Path(sys.executable).with_name("venta"))]
SERVICES = ("user", "vendor", "location")
BERLIN = (52.52, 13.405)
VENDORS = 100  # seeded within ~2 km of the centre; the box holds about 40 of them
BOX = {"swLat": 52.51, "swLong": 13.39, "neLat": 52.53, "neLong": 13.42, "limit": 100}
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    env.update(values)
    return env


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(base: str) -> Iterator[str]:
    name = f"venta_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Processes:
    """Started `venta` processes, output in files, all stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with (self.workdir / f"{name}.log").open("ab") as out:
            popen = subprocess.Popen(
                [*VENTA, *args], env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        self.running.append((name, popen))

    def check(self) -> None:
        for name, popen in self.running:
            if popen.poll() is not None:
                log = (self.workdir / f"{name}.log").read_text(errors="replace")
                raise SystemExit(f"{name} exited with {popen.returncode}:\n{log[-3000:]}")

    def stop_all(self) -> None:
        for _, popen in self.running:
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        for _, popen in self.running:
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        self.running.clear()


def wait_ready(processes: Processes, urls: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for url in urls:
        while True:
            processes.check()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"not ready after {START_TIMEOUT:g}s: {url}")
            time.sleep(0.2)


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    per_second: float


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def measure(
    client: httpx.AsyncClient, request: Callable[[], Awaitable[httpx.Response]], args: Args
) -> Figures:
    async def one() -> float:
        started = time.perf_counter()
        response = await request()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
        return elapsed

    for _ in range(args.warmup):
        await one()
    latencies: list[float] = []
    give_up = time.perf_counter() + args.duration
    while len(latencies) < args.requests and time.perf_counter() < give_up:
        latencies.append(await one())
    latencies.sort()

    done = 0
    stop_at = time.perf_counter() + args.duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await one()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    return Figures(
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        per_second=done / elapsed,
    )


async def seed(base: str, token: str) -> str:
    """VENDORS vendors with live positions around the centre; returns one vendor id."""
    rng = random.Random(7)
    spots = [
        (BERLIN[0] + rng.uniform(-0.015, 0.015), BERLIN[1] + rng.uniform(-0.025, 0.025))
        for _ in range(VENDORS)
    ]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def one(i: int) -> str:
            created = await client.post("/v1/vendors", json={"name": f"Stall {i}"})
            created.raise_for_status()
            vendor_id: str = created.json()["id"]
            lat, long = spots[i]
            moved = await client.put(
                f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": long}
            )
            moved.raise_for_status()
            return vendor_id

        ids = []
        for start in range(0, VENDORS, 10):  # ten at a time
            ids += await asyncio.gather(*(one(i) for i in range(start, min(start + 10, VENDORS))))
    return ids[0]


async def run_topology(base: str, token: str, vendor_id: str, args: Args) -> dict[str, Figures]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=30, limits=limits
    ) as client:
        return {
            "GET /v1/vendors/{id}": await measure(
                client, lambda: client.get(f"/v1/vendors/{vendor_id}"), args
            ),
            "GET /v1/vendors/nearby (box)": await measure(
                client, lambda: client.get("/v1/vendors/nearby", params=BOX), args
            ),
        }


@dataclass
class Args:
    requests: int
    warmup: int
    duration: float
    concurrency: int
    database_url: str
    redis_url: str
    nats_url: str


def bench(args: Args, workdir: Path) -> dict[str, dict[str, Figures]]:
    token = DevTokenProvider(AuthSettings()).issue("bench-user", ttl_seconds=3600)
    results: dict[str, dict[str, Figures]] = {}
    with fresh_database(args.database_url) as database_url:
        common = _env(
            VENTA_DATABASE_URL=database_url,
            VENTA_DATABASE_AUTO_MIGRATE="false",
            VENTA_REDIS_URL=args.redis_url,
            VENTA_NATS_URL=args.nats_url,
            VENTA_KEY_PREFIX=f"bench{uuid.uuid4().hex[:8]}",
            VENTA_GRPC__IDENTITY_SECRET=secrets.token_hex(24),
            VENTA_GRPC__HOST="127.0.0.1",
            VENTA_RATE_LIMIT__ENABLED="false",
            VENTA_LOG__LEVEL="WARNING",
        )
        subprocess.run([*VENTA, "db", "migrate"], env=common, cwd=workdir, check=True)
        http_port = _free_port()
        base = f"http://127.0.0.1:{http_port}"
        gateway = ["serve", "gateway", "--host", "127.0.0.1", "--port", str(http_port)]
        processes = Processes(workdir)
        try:
            processes.start("gateway-in-process", gateway, common)
            wait_ready(processes, [f"{base}/ready"])
            vendor_id = asyncio.run(seed(base, token))
            results["in-process"] = asyncio.run(run_topology(base, token, vendor_id, args))
            processes.stop_all()

            grpc_env = dict(common)
            addresses = {}
            side = []
            for name in SERVICES:
                port, metrics_port = _free_port(), _free_port()
                grpc_env[f"VENTA_GRPC__{name.upper()}_PORT"] = str(port)
                addresses[f"VENTA_SERVICES__{name.upper()}__ADDRESS"] = f"127.0.0.1:{port}"
                side.append(f"http://127.0.0.1:{metrics_port}/ready")
                env = {**grpc_env, "VENTA_GRPC__METRICS_PORT": str(metrics_port)}
                processes.start(name, ["serve", "grpc", "--service", name], env)
            processes.start("gateway-split", gateway, {**grpc_env, **addresses})
            wait_ready(processes, [*side, f"{base}/ready"])
            results["split"] = asyncio.run(run_topology(base, token, vendor_id, args))
        finally:
            processes.stop_all()
    return results


def report(results: dict[str, dict[str, Figures]], args: Args) -> None:
    local, split = results["in-process"], results["split"]
    head = f"{'endpoint':<30} {'figure':<14} {'in-process':>11} {'split':>11} {'split/in-proc':>14}"
    print(head)
    print("-" * len(head))
    for endpoint, a in local.items():
        b = split[endpoint]
        rows = [
            ("p50 ms", a.p50_ms, b.p50_ms, "{:.2f}"),
            ("p99 ms", a.p99_ms, b.p99_ms, "{:.2f}"),
            (f"req/s (x{args.concurrency})", a.per_second, b.per_second, "{:.0f}"),
        ]
        for i, (figure, x, y, fmt) in enumerate(rows):
            name = endpoint if i == 0 else ""
            print(f"{name:<30} {figure:<14} {fmt.format(x):>11} {fmt.format(y):>11} {y / x:>14.2f}")
    hop_ms = split["GET /v1/vendors/{id}"].p50_ms - local["GET /v1/vendors/{id}"].p50_ms
    print(f"\none gRPC hop adds about {hop_ms:.2f} ms at the median (GET /v1/vendors/{{id}})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests (latency)")
    parser.add_argument("--warmup", type=int, default=30, help="requests before measuring")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of concurrent load")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--venta", default=None, help="command running venta (default: ours)")
    parsed = parser.parse_args()
    if parsed.venta:
        VENTA[:] = shlex.split(parsed.venta)
    args = Args(
        requests=parsed.requests,
        warmup=parsed.warmup,
        duration=parsed.duration,
        concurrency=parsed.concurrency,
        database_url=os.environ.get(
            "VENTA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        redis_url=os.environ.get("VENTA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        nats_url=os.environ.get("VENTA_BENCH_NATS_URL", "nats://127.0.0.1:4222"),
    )
    print(
        f"gateway hop benchmark: {VENDORS} vendors; per endpoint and topology "
        f"{args.requests} sequential requests (at most {args.duration:g}s), then "
        f"{args.concurrency} clients for {args.duration:g}s\n"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="venta-bench-hop-") as workdir:
        results = bench(args, Path(workdir))
    report(results, args)
    print(f"(run took {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
