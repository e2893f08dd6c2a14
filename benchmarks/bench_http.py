"""The HTTP request path of the gateway against plain FastAPI doing the same work, same run.

    python benchmarks/bench_http.py                        # 3 routes x 3 servers, 5 s each
    python benchmarks/bench_http.py --seconds 10 --rounds 3 --connections 64
    python benchmarks/bench_http.py --compare "env PYTHONPATH=/tmp/old/src venta"  # two builds
    VENTA_REDIS_URL=redis://127.0.0.1:6379/0 python benchmarks/bench_http.py

Three servers run as processes on loopback, on the same fresh PostgreSQL database
(``VENTA_BENCH_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``; a
``venta_bench_<random>`` database is created, migrated and dropped at the end):

- ``venta``: ``venta serve gateway``, rate limits on (limits far above the load), logging at
  ``--log-level`` (default WARNING, as in production behind a log budget; INFO writes the
  access line of every request);
- ``same-work``: a plain FastAPI app written below doing each route's work with the same
  building blocks: PyJWT HS256 verification, SQLAlchemy async on asyncpg, venta's geo index
  class, pydantic responses;
- ``constant``: FastAPI answering each route with a constant.

With ``VENTA_REDIS_URL`` the gateway keeps rate limits and the geo index in Redis, and the
same-work app uses the Redis geo index too. Each route is loaded with ``wrk`` (``apt-get install
wrk``; without it an in-Python load generator is used, which is slower than the servers) and the
script prints req/s, p50/p99 latency and the ratios venta/same-work and venta/constant.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hop import VENTA, Processes, _env, _free_port, fresh_database, wait_ready

from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings

SUBJECT = "bench-http-owner"
BERLIN = (52.52, 13.405)
VENDORS = 100
BOX = "swLat=52.51&swLong=13.39&neLat=52.53&neLong=13.42&limit=100"
HIGH_LIMIT = "1000000000"


# --- the baseline applications -------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class VendorOut(Out):
    id: str
    owner_id: str
    name: str
    description: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    open: bool = False
    primary_image: str | None = None
    lat: float | None = None
    long: float | None = None
    created_at: datetime
    updated_at: datetime


class LocationOut(Out):
    lat: float
    long: float


class NearbyVendor(Out):
    id: str
    location: LocationOut


class NearbyOut(Out):
    vendors: list[NearbyVendor]


class LocationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    long: float = Field(ge=-180, le=180, allow_inf_nan=False)


class PositionOut(Out):
    id: str
    location: LocationOut
    updated_at: datetime


def same_work_app(database_url: str, redis_url: str, prefix: str) -> Any:
    """Plain FastAPI doing each route's work with the gateway's building blocks."""
    import jwt
    import sqlalchemy as sa
    from fastapi import FastAPI, Header, HTTPException
    from sqlalchemy.ext.asyncio import create_async_engine

    from venta_core.domain import BoundingBox
    from venta_core.ports.geo import GeoIndex
    from venta_core.ports.geo_memory import MemoryGeoIndex
    from venta_core.store.tables import vendors

    settings = AuthSettings()
    secret = settings.dev_secret.get_secret_value()
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    # As venta's database: --pre-ping checks each connection out with a ping, as venta does.
    pre_ping = os.environ.get("BENCH_PRE_PING") == "1"
    # The same pool as venta's: VENTA_DATABASE_POOL_SIZE connections and as many overflow.
    size = int(os.environ.get("VENTA_DATABASE_POOL_SIZE", "10"))
    engine = create_async_engine(url, pool_size=size, max_overflow=size, pool_pre_ping=pre_ping)
    owners: dict[str, str] = {}
    geo: GeoIndex = MemoryGeoIndex()
    placed: list[tuple[str, float, float]] = []

    def verify(authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401)
        try:
            claims = jwt.decode(
                authorization[7:],
                secret,
                algorithms=["HS256"],
                audience=settings.dev_audience,
                issuer=settings.dev_issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.PyJWTError:
            raise HTTPException(401) from None
        return str(claims["sub"])

    api = FastAPI()

    @api.on_event("startup")
    async def load() -> None:
        nonlocal geo
        if redis_url:
            from venta_core.ports.geo_redis import RedisGeoIndex
            from venta_core.ports.redis_conn import RedisConnection

            connection = RedisConnection(redis_url)
            await connection.start()
            geo = RedisGeoIndex(connection, prefix=f"{prefix}base")
        query = sa.select(vendors.c.id, vendors.c.lat, vendors.c.long).where(vendors.c.live)
        for _ in range(300):  # the gateway writes positions behind: wait for all of them
            async with engine.connect() as conn:
                rows = list(await conn.execute(query))
            if len(rows) >= VENDORS:
                break
            await asyncio.sleep(0.1)
        placed.extend((r.id, r.lat, r.long) for r in rows)
        await geo.set_many(placed)

    @api.on_event("shutdown")
    async def unload() -> None:
        for member, _, _ in placed:  # the Redis index is shared: leave nothing behind
            await geo.remove(member)

    @api.get("/v1/vendors/nearby")
    async def nearby(
        swLat: float, swLong: float, neLat: float, neLong: float, limit: int = 50,
        authorization: str | None = Header(None),
    ) -> NearbyOut:  # fmt: skip
        verify(authorization)
        box = BoundingBox.model_validate(
            {"sw": {"lat": swLat, "long": swLong}, "ne": {"lat": neLat, "long": neLong}}
        )
        hits = await geo.in_box(box, limit)
        return NearbyOut(
            vendors=[
                NearbyVendor(id=h.member, location=LocationOut(lat=h.lat, long=h.long))
                for h in hits
            ]
        )

    @api.get("/v1/vendors/{vendor_id}")
    async def get_vendor(vendor_id: str, authorization: str | None = Header(None)) -> VendorOut:
        verify(authorization)
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(vendors).where(vendors.c.id == vendor_id))).first()
        if row is None:
            raise HTTPException(404)
        return VendorOut.model_validate(dict(row._mapping))

    @api.put("/v1/vendors/{vendor_id}/location")
    async def put_location(
        vendor_id: str, body: LocationBody, authorization: str | None = Header(None)
    ) -> PositionOut:
        verify(authorization)
        owner = owners.get(vendor_id)
        if owner is None:  # the gateway caches owners too
            async with engine.connect() as conn:
                query = sa.select(vendors.c.owner_id).where(vendors.c.id == vendor_id)
                owner = (await conn.execute(query)).scalar()
            if owner is None:
                raise HTTPException(404)
            owners[vendor_id] = owner
        await geo.set(vendor_id, body.lat, body.long)
        location = LocationOut(lat=body.lat, long=body.long)
        return PositionOut(id=vendor_id, location=location, updated_at=datetime.now())

    return api


def constant_app() -> Any:
    """FastAPI answering each route with a constant: the floor of the framework itself."""
    from fastapi import FastAPI

    api = FastAPI()
    answer = {"id": "00000000-0000-4000-8000-000000000000", "name": "constant"}

    @api.get("/v1/vendors/nearby")
    async def nearby() -> dict[str, Any]:
        return {"vendors": []}

    @api.get("/v1/vendors/{vendor_id}")
    async def get_vendor(vendor_id: str) -> dict[str, Any]:
        return answer

    @api.put("/v1/vendors/{vendor_id}/location")
    async def put_location(vendor_id: str) -> dict[str, Any]:
        return answer

    return api


def serve(kind: str, port: int) -> None:
    """Entry point of a baseline server process."""
    import uvicorn

    if kind == "constant":
        app = constant_app()
    else:
        app = same_work_app(
            os.environ["BENCH_DATABASE_URL"],
            os.environ.get("BENCH_REDIS_URL", ""),
            os.environ.get("BENCH_KEY_PREFIX", ""),
        )

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- load ----------------------------------------------------------------------------------


@dataclass
class Route:
    name: str
    method: str
    path: str
    body: str | None = None


@dataclass
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(out: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    assert match, out
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(base: str, route: Route, token: str, args: argparse.Namespace, workdir: Path) -> Figures:
    script = workdir / "request.lua"
    lines = [
        f'wrk.method = "{route.method}"',
        f'wrk.headers["Authorization"] = "Bearer {token}"',
    ]
    if route.body is not None:
        lines += [f"wrk.body = '{route.body}'", 'wrk.headers["Content-Type"] = "application/json"']
    # Any answer but 200 would measure an error path: count them and report.
    lines += [
        "bad = 0",
        "response = function(status, headers, body) if status ~= 200 then bad = bad + 1",
        'if bad == 1 then io.stderr:write("non-200: " .. status .. " " .. body .. "\\n") end',
        "end end",
    ]
    script.write_text("\n".join(lines) + "\n")
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s"]
    command += ["--latency", "-s", str(script), base + route.path]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    if "non-200" in done.stderr or "Non-2xx" in done.stdout:
        raise SystemExit(f"{base}{route.path} answered errors:\n{done.stdout}{done.stderr}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match, done.stdout
    return Figures(float(match.group(1)), _latency(done.stdout, "50"), _latency(done.stdout, "99"))


async def _python_load(base: str, route: Route, token: str, args: argparse.Namespace) -> Figures:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=args.connections)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        stop_at = time.perf_counter() + args.seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await client.request(route.method, route.path, content=route.body)
                if response.status_code != 200:
                    raise SystemExit(f"{route.path}: {response.status_code} {response.text}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return Figures(len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000)


def load(base: str, route: Route, token: str, args: argparse.Namespace, workdir: Path) -> Figures:
    if shutil.which("wrk"):
        return wrk(base, route, token, args, workdir)
    return asyncio.run(_python_load(base, route, token, args))


# --- CPU per request, in process -----------------------------------------------------------


async def _asgi_call(app: Any, method: str, target: str, body: bytes, headers: list[Any]) -> int:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers, (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a disconnect that never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _in_process(requests: int) -> None:
    """CPU time per request through the gateway's ASGI app, no network: embedded backends
    (SQLite in a temporary directory), rate limits on, best of three runs per route."""
    from venta_core.app import Venta
    from venta_core.testing import embedded_settings
    from venta_core.transports.http import create_http_app

    with tempfile.TemporaryDirectory(prefix="venta-bench-http-") as tmp:
        limits = {"per_ip": 10**9, "per_identity": 10**9}
        settings = embedded_settings(Path(tmp) / "venta.db", rate_limit=limits)
        async with Venta(settings, load_entry_points=False) as venta:
            api = create_http_app(venta)
            token = DevTokenProvider(settings.auth).issue(SUBJECT)
            headers = [
                (b"authorization", f"Bearer {token}".encode()),
                (b"content-type", b"application/json"),
            ]
            created = await venta.vendors.create_vendor(
                await _actor(venta), _vendor_create("Stall")
            )
            here = b'{"lat": 52.52, "long": 13.405}'
            cases = [
                (
                    "PUT /v1/vendors/{id}/location",
                    "PUT",
                    f"/v1/vendors/{created.id}/location",
                    here,
                ),
                ("GET /v1/vendors/nearby (box)", "GET", f"/v1/vendors/nearby?{BOX}", b""),
                ("GET /v1/vendors/{id}", "GET", f"/v1/vendors/{created.id}", b""),
            ]
            print(f"in process, embedded backends: CPU per request (best of 3 x {requests})")
            for name, method, target, body in cases:
                for _ in range(100):
                    status = await _asgi_call(api, method, target, body, headers)
                    if status != 200:
                        raise SystemExit(f"{name}: {status}")
                best = math.inf
                for _ in range(3):
                    started = time.process_time()
                    for _ in range(requests):
                        await _asgi_call(api, method, target, body, headers)
                    best = min(best, (time.process_time() - started) / requests)
                print(f"  {name:<30} {best * 1e6:8.0f} us")


async def _actor(venta: Any) -> Any:
    from venta_core.domain import Actor

    user = await venta.users.ensure_user(SUBJECT)
    return Actor.for_user(user)


def _vendor_create(name: str) -> Any:
    from venta_core.domain import VendorCreate

    return VendorCreate(name=name)


# --- the run -------------------------------------------------------------------------------


async def seed(base: str, token: str) -> str:
    """VENDORS vendors owned by SUBJECT with live positions around Berlin; one vendor id."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        ids = []
        for i in range(VENDORS):
            created = await client.post("/v1/vendors", json={"name": f"Stall {i}"})
            created.raise_for_status()
            vendor_id: str = created.json()["id"]
            lat = BERLIN[0] + rng.uniform(-0.015, 0.015)
            long = BERLIN[1] + rng.uniform(-0.025, 0.025)
            moved = await client.put(
                f"/v1/vendors/{vendor_id}/location", json={"lat": lat, "long": long}
            )
            moved.raise_for_status()
            ids.append(vendor_id)
    return ids[0]


def run(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, list[Figures]]]:
    token = DevTokenProvider(AuthSettings()).issue(SUBJECT, ttl_seconds=24 * 3600)
    redis_url = os.environ.get("VENTA_REDIS_URL", "")
    prefix = f"benchhttp{uuid.uuid4().hex[:8]}"
    results: dict[str, dict[str, list[Figures]]] = {}
    with fresh_database(args.database_url) as database_url:
        env = _env(
            VENTA_DATABASE_URL=database_url,
            VENTA_DATABASE_AUTO_MIGRATE="false",
            VENTA_KEY_PREFIX=prefix,
            VENTA_RATE_LIMIT__ENABLED="true",
            VENTA_RATE_LIMIT__PER_IP=HIGH_LIMIT,
            VENTA_RATE_LIMIT__PER_IDENTITY=HIGH_LIMIT,
            VENTA_LOG__LEVEL=args.log_level,
            VENTA_LOG__FORMAT="json",
            VENTA_DATABASE_POOL_SIZE=str(args.pool_size),
            **({"VENTA_REDIS_URL": redis_url} if redis_url else {}),
        )
        subprocess.run([*VENTA, "db", "migrate"], env=env, cwd=workdir, check=True)
        names = ["venta", *(["compare"] if args.compare else []), "same-work", "constant"]
        ports = {name: _free_port() for name in names}
        bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        processes = Processes(workdir)
        try:
            gateway = ["serve", "gateway", "--host", "127.0.0.1", "--port", str(ports["venta"])]
            processes.start("venta", gateway, env)
            wait_ready(processes, [f"{bases['venta']}/ready"])
            vendor_id = asyncio.run(seed(bases["venta"], token))
            baseline_env = {
                **env,
                "BENCH_DATABASE_URL": database_url,
                "BENCH_REDIS_URL": redis_url,
                "BENCH_KEY_PREFIX": prefix,
                "BENCH_PRE_PING": "1" if args.pre_ping else "0",
            }
            for kind in ("same-work", "constant"):
                command = [sys.executable, __file__, "--serve", kind, "--port", str(ports[kind])]
                popen = subprocess.Popen(
                    command,
                    env=baseline_env,
                    cwd=workdir,
                    stdout=(workdir / f"{kind}.log").open("ab"),
                    stderr=subprocess.STDOUT,
                )
                processes.running.append((kind, popen))
            wait_ready(processes, [f"{bases[kind]}/ready" for kind in ("same-work", "constant")])
            if args.compare:  # started once the positions are written (same-work waits for them)
                compare = [*shlex.split(args.compare), *gateway[:-1], str(ports["compare"])]
                popen = subprocess.Popen(
                    compare,
                    env=env,
                    cwd=workdir,
                    stdout=(workdir / "compare.log").open("ab"),
                    stderr=subprocess.STDOUT,
                )
                processes.running.append(("compare", popen))
            wait_ready(processes, [f"{base}/ready" for base in bases.values()])
            here = f"{BERLIN[0] + 0.001:.6f}"
            routes = [
                Route("GET /v1/vendors/{id}", "GET", f"/v1/vendors/{vendor_id}"),
                Route("GET /v1/vendors/nearby (box)", "GET", f"/v1/vendors/nearby?{BOX}"),
                Route(
                    "PUT /v1/vendors/{id}/location",
                    "PUT",
                    f"/v1/vendors/{vendor_id}/location",
                    f'{{"lat": {here}, "long": {BERLIN[1]}}}',
                ),
            ]
            for route in routes:
                if args.routes and not any(part in route.name for part in args.routes):
                    continue
                results[route.name] = {name: [] for name in bases}
                quick = argparse.Namespace(**{**vars(args), "seconds": 1})
                for base in bases.values():  # warm up: pools, caches, code paths
                    load(base, route, token, quick, workdir)
                for _ in range(args.rounds):  # alternating, so each sees the same machine
                    for name, base in bases.items():
                        spy = _py_spy(args, processes, route) if name == "venta" else None
                        results[route.name][name].append(load(base, route, token, args, workdir))
                        if spy is not None:
                            spy.wait()
                        processes.check()
        except SystemExit:
            for log in sorted(workdir.glob("*.log")):  # what the servers said about it
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
            raise
        finally:
            processes.stop_all()
    return results


def _py_spy(
    args: argparse.Namespace, processes: Processes, route: Route
) -> subprocess.Popen[bytes] | None:
    """With ``--profile DIR``: py-spy records the gateway while the route is loaded, as
    collapsed stacks in DIR (one file per route, summarised by ``--summarise``)."""
    if not args.profile:
        return None
    pid = next(popen.pid for name, popen in processes.running if name == "venta")
    slug = re.sub(r"[^a-z]+", "-", route.name.lower()).strip("-")
    out = Path(args.profile) / f"{slug}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).with_name("py-spy")  # installed in this environment
    spy = str(beside) if beside.exists() else "py-spy"
    command = [spy, "record", "--format", "raw", "--nonblocking", "-p", str(pid)]
    command += ["-d", str(max(1, args.seconds - 1)), "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(path: Path, top: int = 25) -> None:
    """Share of samples per function (anywhere on the stack) in a collapsed-stack file."""
    total = 0
    inclusive: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        for frame in {f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
                      for f in stack.split(";")}:  # fmt: skip
            inclusive[frame] = inclusive.get(frame, 0) + samples
    print(f"{path.name}: {total} samples")
    for frame, samples in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * samples / total:5.1f}%  {frame}")


def _median(figures: list[Figures]) -> Figures:
    return Figures(
        statistics.median(f.per_second for f in figures),
        statistics.median(f.p50_ms for f in figures),
        statistics.median(f.p99_ms for f in figures),
    )


def report(results: dict[str, dict[str, list[Figures]]]) -> None:
    head = (
        f"{'route':<30} {'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'venta/x req/s':>14}"
    )
    print(head)
    print("-" * len(head))
    for route, servers in results.items():
        venta = _median(servers["venta"])
        for i, (name, figures) in enumerate(servers.items()):
            f = _median(figures)
            ratio = "" if name == "venta" else f"{venta.per_second / f.per_second:.2f}"
            label = route if i == 0 else ""
            print(
                f"{label:<30} {name:<10} {f.per_second:>8.0f} {f.p50_ms:>8.2f} "
                f"{f.p99_ms:>8.2f} {ratio:>14}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="seconds of load per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="measurements per route and server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--log-level", default="WARNING", help="VENTA_LOG__LEVEL of the gateway")
    parser.add_argument(
        "--compare", help="also measure the gateway run by this command (another build)"
    )
    parser.add_argument(
        "--pre-ping",
        action="store_true",
        help="the same-work app pings each connection it checks out, as venta's pool does",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=10,
        help="VENTA_DATABASE_POOL_SIZE of the gateway; the same-work app's pool is the same",
    )
    parser.add_argument("--routes", nargs="+", help="only routes whose name contains one of these")
    parser.add_argument(
        "--in-process",
        type=int,
        metavar="N",
        help="measure CPU per request through the ASGI app in process (N requests), exit",
    )
    parser.add_argument("--profile", help="py-spy the gateway into this directory")
    parser.add_argument("--summarise", nargs="+", help="print the top of py-spy files, exit")
    parser.add_argument("--serve", choices=("same-work", "constant"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.in_process:
        asyncio.run(_in_process(args.in_process))
        return
    if args.summarise:
        for name in args.summarise:
            summarise(Path(name))
        return
    args.database_url = os.environ.get(
        "VENTA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    loader = "wrk" if shutil.which("wrk") else "an in-Python load generator (wrk not found)"
    print(
        f"{VENDORS} vendors on PostgreSQL{' + Redis' if os.environ.get('VENTA_REDIS_URL') else ''}"
        f"; {loader}, {args.connections} connections, database pools {args.pool_size} + "
        f"{args.pool_size}, {args.rounds} x {args.seconds} s "
        "per route and server (medians)\n"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="venta-bench-http-") as workdir:
        results = run(args, Path(workdir))
    report(results)
    print(f"\n(run took {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
