"""`venta demo simulate`: moving vendors and panning users against a running server.

Each simulated party is a Socket.IO v4 client on one websocket (``transport=websocket``), written
on the ``websockets`` client so the command needs nothing beyond venta's own dependencies.
Vendors (their owners and vendors are created through the HTTP API with development tokens
minted from the local settings) drive around a city; users watch a district-sized viewport and
now and then pan. Every ``vendor_sync`` received is matched to the update that caused it (by
vendor and position), which gives the delivery latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from websockets.asyncio.client import ClientConnection, connect

__all__ = ["SimulationResult", "simulate"]

MOVE_DEG = 0.0004  # about 40 m per step
VIEW_DEG = (0.02, 0.03)  # a viewport of roughly 2 km x 2 km


@dataclass
class SimulationResult:
    updates_sent: int = 0
    delivered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1]


class _Client:
    """One Socket.IO namespace on its own websocket."""

    def __init__(self, ws: ClientConnection, namespace: str) -> None:
        self.ws = ws
        self.namespace = namespace

    @classmethod
    async def open(cls, url: str, namespace: str, token: str) -> _Client:
        parts = urlsplit(url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        ws = await connect(
            f"{scheme}://{parts.netloc}/socket.io/?EIO=4&transport=websocket",
            compression=None,
            max_queue=None,
        )
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


async def _owner(http: httpx.AsyncClient, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    response = await http.post("/v1/vendors", json={"name": "Simulated vendor"}, headers=headers)
    response.raise_for_status()
    return str(response.json()["id"])


async def simulate(
    *,
    url: str,
    ws_url: str,
    tokens: Any,
    center: tuple[float, float],
    vendors: int,
    users: int,
    duration: float,
    interval: float,
    seed: int = 7,
) -> SimulationResult:
    """Run the simulation; ``tokens(subject)`` mints a bearer token."""
    rng = random.Random(seed)  # noqa: S311 - simulated movement, not secrets
    result = SimulationResult()
    sent: dict[tuple[str, float, float], float] = {}
    lat0, long0 = center
    run = f"{int(time.time())}-{rng.randrange(10**6)}"

    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        owner_tokens = [tokens(f"sim-owner-{run}-{i}") for i in range(vendors)]
        vendor_ids = await asyncio.gather(*(_owner(http, t) for t in owner_tokens))
    vendor_clients = [await _Client.open(ws_url, "/vendor", t) for t in owner_tokens]
    user_clients = [
        await _Client.open(ws_url, "/user", tokens(f"sim-user-{run}-{i}")) for i in range(users)
    ]
    deadline = time.monotonic() + duration

    async def drive(client: _Client, vendor_id: str) -> None:
        lat = lat0 + rng.uniform(-0.01, 0.01)
        long = long0 + rng.uniform(-0.015, 0.015)
        await asyncio.sleep(rng.uniform(0, interval))
        while time.monotonic() < deadline:
            lat = round(lat + rng.uniform(-MOVE_DEG, MOVE_DEG), 6)
            long = round(long + rng.uniform(-MOVE_DEG, MOVE_DEG), 6)
            sent[(vendor_id, lat, long)] = time.perf_counter()
            await client.emit(
                "updateVendorLocation", {"vendorId": vendor_id, "lat": lat, "long": long}
            )
            result.updates_sent += 1
            await asyncio.sleep(interval)

    async def watch(client: _Client) -> None:
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
                    started = sent.get((payload["id"], loc["lat"], loc["long"]))
                    if started is not None:
                        result.latencies_ms.append((time.perf_counter() - started) * 1000)
                elif event == "error":
                    code = str(payload.get("code"))
                    result.errors[code] = result.errors.get(code, 0) + 1
        finally:
            panner.cancel()

    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    started = time.monotonic()
    watchers = [asyncio.create_task(watch(c)) for c in user_clients]
    drivers = [
        asyncio.create_task(drive(c, v)) for c, v in zip(vendor_clients, vendor_ids, strict=True)
    ]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("simulating", total=duration)
        while (left := deadline - time.monotonic()) > 0:
            progress.update(
                task,
                completed=duration - left,
                description=f"sent {result.updates_sent}  delivered {result.delivered}",
            )
            await asyncio.sleep(min(0.25, left))
    await asyncio.gather(*drivers, return_exceptions=True)
    await asyncio.sleep(0.5)  # the last deliveries
    result.seconds = time.monotonic() - started
    for w in watchers:
        w.cancel()
    for c in [*vendor_clients, *user_clients]:
        await c.close()
    return result
