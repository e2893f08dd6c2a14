"""`venta demo simulate`: moving vendors and panning users against a running server.

Each simulated party is a Socket.IO v4 client on one websocket (``transport=websocket``), written
on the ``websockets`` client so the command needs nothing beyond venta's own dependencies.
Vendors (their owners and vendors are created through the HTTP API with development tokens
minted from the local settings) drive around a city; users watch a district-sized viewport and
now and then pan. Every ``vendor_sync`` received is matched to the update that caused it (by
vendor and position), which gives the delivery latency.

With ``route`` (``venta demo simulate --around``) vendors drive instead of jittering: each heads
for a random waypoint within a few kilometres of the centre at 5-15 m/s, then for the next
(``Route``), until stopped; one more identity, the watcher, is handed out for the map page.

What it creates is its own to remove: every simulated identity it used (vendor owners and
watchers, each a user the server created on first sight) is deleted at the end with
``DELETE /v1/me``, which takes the owner's vendor and its live position along; Ctrl-C ends the
run early and still cleans up. ``keep`` leaves them for inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from venta_cli.api_client import ApiClient

__all__ = ["Route", "SimulationResult", "simulate"]

MOVE_DEG = 0.0004  # about 40 m per step
VIEW_DEG = (0.02, 0.03)  # a viewport of roughly 2 km x 2 km
#: Vendors created and identities deleted at a time, around the simulation.
SETUP_CONCURRENCY = 16
ROUTE_RADIUS_M = 3000.0  # waypoints within this distance of the centre
SPEED_MPS = (5.0, 15.0)  # city driving, stops not counted
METRES_PER_DEG_LAT = 111_320.0


@dataclass
class SimulationResult:
    updates_sent: int = 0
    delivered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    vendors: int = 0  # created
    users: int = 0  # identities used: vendor owners and watchers
    removed: bool = False  # the users and vendors were deleted at the end
    interrupted: bool = False
    run: str = ""  # in the subjects of its identities: sim-owner-<run>-<n>, sim-user-<run>-<n>

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1]


class Route:
    """A vendor driving from waypoint to waypoint around ``center``: each waypoint is drawn
    uniformly within ``radius_m`` of it, each leg at a speed drawn from ``SPEED_MPS``."""

    def __init__(
        self, center: tuple[float, float], rng: random.Random, radius_m: float = ROUTE_RADIUS_M
    ) -> None:
        self.center = center
        self.rng = rng
        self.radius_m = radius_m
        self.lat, self.long = self._waypoint()
        self._new_leg()

    def _waypoint(self) -> tuple[float, float]:
        distance = self.radius_m * math.sqrt(self.rng.random())
        bearing = self.rng.uniform(0, 2 * math.pi)
        lat0, long0 = self.center
        dlat = distance * math.cos(bearing) / METRES_PER_DEG_LAT
        dlong = distance * math.sin(bearing) / self._metres_per_deg_long(lat0)
        return lat0 + dlat, long0 + dlong

    @staticmethod
    def _metres_per_deg_long(lat: float) -> float:
        return max(METRES_PER_DEG_LAT * math.cos(math.radians(lat)), 1.0)

    def _new_leg(self) -> None:
        self.target = self._waypoint()
        self.speed = self.rng.uniform(*SPEED_MPS)

    def step(self, seconds: float) -> tuple[float, float]:
        """Drive ``seconds`` at this leg's speed (a new leg on arrival); the new position."""
        budget = self.speed * seconds
        while budget > 0:
            north = (self.target[0] - self.lat) * METRES_PER_DEG_LAT
            east = (self.target[1] - self.long) * self._metres_per_deg_long(self.lat)
            left = math.hypot(north, east)
            if left <= budget:
                self.lat, self.long = self.target
                budget -= left
                self._new_leg()
                if left == 0:
                    break
                continue
            fraction = budget / left
            self.lat += (self.target[0] - self.lat) * fraction
            self.long += (self.target[1] - self.long) * fraction
            budget = 0
        return round(self.lat, 6), round(self.long, 6)


class _Client:
    """One Socket.IO namespace on its own websocket."""

    def __init__(self, ws: ClientConnection, namespace: str) -> None:
        self.ws = ws
        self.namespace = namespace

    @classmethod
    async def open(cls, url: str, namespace: str, token: str) -> _Client:
        parts = urlsplit(url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        try:
            ws = await connect(
                f"{scheme}://{parts.netloc}/socket.io/?EIO=4&transport=websocket",
                compression=None,
                max_queue=None,
            )
        except InvalidStatus as exc:
            if exc.response.status_code != 429:
                raise
            # Every simulated client connects from this one address.
            raise ConnectionError(
                "the server refused more real-time connections from this address (429): "
                "for this many simulated clients, raise VENTA_REALTIME__CONNECTS_PER_IP_PER_MINUTE "
                "on the server (0: no limit), or simulate fewer --vendors and --users"
            ) from None
        opening = await ws.recv()
        if not str(opening).startswith("0"):
            raise ConnectionError(f"unexpected Engine.IO opening {opening!r}")
        await ws.send(f"40{namespace},{json.dumps({'token': token})}")
        reply = str(await ws.recv())
        if not reply.startswith(f"40{namespace},"):
            raise ConnectionError(f"{namespace} refused: {reply[len(namespace) + 3 :]}")
        return cls(ws, namespace)

    async def emit(self, event: str, data: Any) -> None:
        await self.ws.send(f"42{self.namespace},{json.dumps([event, data])}")

    async def events(self) -> Any:
        """Yield (event, payload) pairs; answers Engine.IO pings on the way."""
        prefix = f"42{self.namespace},"
        async for message in self.ws:
            text = str(message)
            if text == "2":
                await self.ws.send("3")
            elif text.startswith(prefix):
                event, *args = json.loads(text[len(prefix) :])
                yield event, (args[0] if args else None)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


async def simulate(
    *,
    url: str,
    ws_url: str,
    tokens: Callable[[str], str],
    center: tuple[float, float],
    vendors: int,
    users: int,
    duration: float | None,
    interval: float,
    keep: bool = False,
    on_interrupt: Callable[[], None] | None = None,
    seed: int = 7,
    route: bool = False,
    on_watch: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Run the simulation; ``tokens(subject)`` mints a bearer token. ``duration`` None: until
    Ctrl-C. ``route``: vendors drive ``Route``s. ``on_watch(token)`` is called once the vendors
    are out, with the token of a watcher identity (removed with the rest) for the map page.

    Ctrl-C (SIGINT) ends it early, a second one at once. Unless ``keep``, the users and
    vendors it created are then deleted (``DELETE /v1/me`` of each simulated identity, which
    takes the identity's vendors and their live positions with it)."""
    run = _Run(ws_url, tokens, center, random.Random(seed), route=route)  # noqa: S311
    async with ApiClient(url, tokens) as api:
        body = asyncio.create_task(run.body(api, vendors, users, duration, interval, on_watch))
        run.result.interrupted = await _until_done_or_interrupted(body, on_interrupt)
        for client in run.clients:
            await client.close()
        failure = None if body.cancelled() else body.exception()
        run.result.vendors = len(run.vendor_ids)
        run.result.users = len(run.subjects)
        if not keep:
            try:
                await _remove(api, run.subjects)
                run.result.removed = True
            except Exception:
                if failure is None:
                    raise
        if failure is not None:
            raise failure  # what stopped the simulation, after its clean-up
    return run.result


async def _until_done_or_interrupted(
    body: asyncio.Task[None], on_interrupt: Callable[[], None] | None
) -> bool:
    """Wait for ``body``; on the first SIGINT cancel it and return True. The handler is
    removed as it fires, so a second SIGINT raises KeyboardInterrupt at once."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()

    def on_sigint() -> None:
        interrupted.set()
        loop.remove_signal_handler(signal.SIGINT)
        if on_interrupt is not None:
            on_interrupt()

    # Not in the main thread, or no signals on this platform: Ctrl-C interrupts at once.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    waiter = asyncio.create_task(interrupted.wait())
    try:
        await asyncio.wait({body, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    if not body.done():
        body.cancel()
        await asyncio.wait({body})
    return interrupted.is_set()


async def _remove(api: ApiClient, subjects: list[str]) -> None:
    """Delete each identity's user (its vendors go with it), a few at a time."""
    limit = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def remove(subject: str) -> None:
        async with limit:
            await api.call("DELETE", "/v1/me", subject)

    await asyncio.gather(*(remove(s) for s in subjects))


class _Run:
    """The state of one simulation: what it created, for the clean-up, and its result."""

    def __init__(
        self,
        ws_url: str,
        tokens: Callable[[str], str],
        center: tuple[float, float],
        rng: random.Random,
        *,
        route: bool = False,
    ) -> None:
        self.route = route
        self.ws_url = ws_url
        self.tokens = tokens
        self.center = center
        self.rng = rng
        self.name = f"{int(time.time())}-{rng.randrange(10**6)}"
        self.result = SimulationResult(run=self.name)
        self.subjects: list[str] = []  # every identity used (so perhaps created)
        self.vendor_ids: list[str] = []
        self.clients: list[_Client] = []
        self.sent: dict[tuple[str, float, float], float] = {}

    def use(self, subject: str) -> str:
        """The token of ``subject``, recorded as used."""
        self.subjects.append(subject)
        return self.tokens(subject)

    async def body(
        self,
        api: ApiClient,
        vendors: int,
        users: int,
        duration: float | None,
        interval: float,
        on_watch: Callable[[str], None] | None = None,
    ) -> None:
        owners = [f"sim-owner-{self.name}-{i}" for i in range(vendors)]
        for subject in owners:
            self.use(subject)

        limit = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def create(subject: str) -> str:
            async with limit:  # hundreds at once would only queue up on the server
                created = await api.call(
                    "POST", "/v1/vendors", subject, {"name": "Simulated vendor"}
                )
            self.vendor_ids.append(str(created["id"]))
            return str(created["id"])

        vendor_ids = await asyncio.gather(*(create(s) for s in owners))
        vendor_clients = []
        for subject in owners:
            vendor_clients.append(await self._open("/vendor", self.tokens(subject)))
        user_clients = []
        for i in range(users):
            token = self.use(f"sim-user-{self.name}-{i}")
            user_clients.append(await self._open("/user", token))
        if on_watch is not None:
            on_watch(self.use(f"sim-watcher-{self.name}"))
        deadline = math.inf if duration is None else time.monotonic() + duration
        watchers = [asyncio.create_task(self._watch(c, deadline)) for c in user_clients]
        drivers = [
            asyncio.create_task(self._drive(c, v, deadline, interval))
            for c, v in zip(vendor_clients, vendor_ids, strict=True)
        ]
        started = time.monotonic()
        try:
            await self._progress(deadline, duration)
            await asyncio.gather(*drivers, return_exceptions=True)
            await asyncio.sleep(0.5)  # the last deliveries
        finally:
            self.result.seconds = time.monotonic() - started
            for task in [*watchers, *drivers]:
                task.cancel()

    async def _open(self, namespace: str, token: str) -> _Client:
        client = await _Client.open(self.ws_url, namespace, token)
        self.clients.append(client)
        return client

    async def _drive(
        self, client: _Client, vendor_id: str, deadline: float, interval: float
    ) -> None:
        rng, result = self.rng, self.result
        lat0, long0 = self.center
        lat = lat0 + rng.uniform(-0.01, 0.01)
        long = long0 + rng.uniform(-0.015, 0.015)
        route = Route(self.center, rng) if self.route else None
        await asyncio.sleep(rng.uniform(0, interval))
        while time.monotonic() < deadline:
            if route is not None:
                lat, long = route.step(interval)
            else:
                lat = round(lat + rng.uniform(-MOVE_DEG, MOVE_DEG), 6)
                long = round(long + rng.uniform(-MOVE_DEG, MOVE_DEG), 6)
            self.sent[(vendor_id, lat, long)] = time.perf_counter()
            await client.emit(
                "updateVendorLocation", {"vendorId": vendor_id, "lat": lat, "long": long}
            )
            result.updates_sent += 1
            await asyncio.sleep(interval)

    async def _watch(self, client: _Client, deadline: float) -> None:
        rng, result = self.rng, self.result
        lat0, long0 = self.center

        async def pan() -> None:
            while time.monotonic() < deadline:
                lat = lat0 + rng.uniform(-0.01, 0.01)
                long = long0 + rng.uniform(-0.01, 0.01)
                half_lat, half_long = VIEW_DEG[0] / 2, VIEW_DEG[1] / 2
                await client.emit(
                    "updateUserLocation",
                    {
                        "swLocation": {"lat": lat - half_lat, "long": long - half_long},
                        "neLocation": {"lat": lat + half_lat, "long": long + half_long},
                    },
                )
                await asyncio.sleep(rng.uniform(5, 10))

        panner = asyncio.create_task(pan())
        try:
            async for event, payload in client.events():
                if event == "vendor_sync":
                    result.delivered += 1
                    loc = payload["location"]
                    started = self.sent.get((payload["id"], loc["lat"], loc["long"]))
                    if started is not None:
                        result.latencies_ms.append((time.perf_counter() - started) * 1000)
                elif event == "error":
                    code = str(payload.get("code"))
                    result.errors[code] = result.errors.get(code, 0) + 1
        finally:
            panner.cancel()

    async def _progress(self, deadline: float, duration: float | None) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        result = self.result
        console = Console()
        # Off when the output is not a terminal: a transient bar still leaves an empty line.
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as progress:
            task = progress.add_task("simulating", total=duration)
            started = time.monotonic()
            while (left := deadline - time.monotonic()) > 0:
                progress.update(
                    task,
                    completed=time.monotonic() - started,
                    description=f"sent {result.updates_sent}  delivered {result.delivered}",
                )
                await asyncio.sleep(min(0.25, left))
