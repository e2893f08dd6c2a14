"""The location service restarted under load, behind a gateway, on PostgreSQL, Redis and NATS.

Processes: `venta serve grpc --service user|vendor`, two replicas of `--service location`
(A and B) and `venta serve gateway` calling `ipv4:A,B`. Several clients write vendor positions
(`PUT /v1/vendors/{id}/location`, one writer per vendor, each position numbered) and read them
back (`GET /v1/vendors/{id}/location`, `GET /v1/vendors/nearby`) the whole time, while:

1. A is stopped with SIGTERM and started again, then B: one replica is always up, so every
   request succeeds;
2. both are stopped and started again: requests may get `503 SERVICE_UNAVAILABLE`, but only
   while no replica serves.

Never a 500. No acknowledged write is lost: a read returns the vendor's last acknowledged
position or a later one, and so does a final read. Every process exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import (
    VentaProcess,
    free_port,
    http_ok,
    run_cli,
    services_env,
    wait_until,
)
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT = 90.0  # five interpreters importing at once on a loaded 2-core machine
STOP_TIMEOUT = 30.0  # drain 1 s + grace 5 s + flush and relay, on a loaded machine
BASE_LAT, STEP = 52.5, 1e-4  # position n of a vendor: lat BASE_LAT + n * STEP (11 m apart)
BOX = {"swLat": 52.4, "swLong": 13.3, "neLat": 52.9, "neLong": 13.6}
WRITERS, READERS = 8, 8


def _token(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DevTokenProvider(AuthSettings()).issue(subject)}"}


def _seq(lat: float) -> int:
    return round((lat - BASE_LAT) / STEP)


@dataclass
class Call:
    what: str
    status: int  # 0: no HTTP answer at all
    started: float
    ended: float


@dataclass
class Load:
    """Writers and readers over HTTP; what they saw, for the checks at the end."""

    base: str
    vendors: list[str]
    calls: list[Call] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # vendor -> last acknowledged position
    stale: list[str] = field(default_factory=list)  # reads older than an acknowledged write
    stop: threading.Event = field(default_factory=threading.Event)

    def _send(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response: httpx.Response | None = send()
        except httpx.HTTPError:
            response = None
        status = 0 if response is None else response.status_code
        self.calls.append(Call(what, status, started, time.monotonic()))
        return response

    def writer(self, vendor: str, owner: dict[str, str]) -> None:
        url = f"/v1/vendors/{vendor}/location"
        with httpx.Client(base_url=self.base, timeout=30, headers=owner) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = {"lat": BASE_LAT + n * STEP, "long": 13.4}
                response = self._send("write", partial(http.put, url, json=body))
                if response is not None and response.status_code == 200:
                    self.acked[vendor] = n

    def reader(self, index: int, user: dict[str, str]) -> None:
        with httpx.Client(base_url=self.base, timeout=30, headers=user) as http:
            i = index
            while not self.stop.is_set():
                vendor = self.vendors[i % len(self.vendors)]
                i += 1
                floor = self.acked.get(vendor, 0)
                if not floor:  # no position yet: 404 LOCATION_NOT_FOUND, rightly
                    time.sleep(0.05)
                    continue
                read = self._send("read", partial(http.get, f"/v1/vendors/{vendor}/location"))
                if read is not None and read.status_code == 200:
                    seen = _seq(read.json()["location"]["lat"])
                    if seen < floor:
                        self.stale.append(f"{vendor}: read {seen} after {floor} was acknowledged")
                self._send("nearby", partial(http.get, "/v1/vendors/nearby", params=BOX))

    def ok_since(self, moment: float) -> int:
        return sum(1 for c in self.calls if c.started >= moment and c.status == 200)


class Deployment:
    def __init__(self, tmp_path: Path, database_url: str, key_prefix: str) -> None:
        self.env = services_env(
            database_url,
            key_prefix,
            VENTA_GRPC__DEADLINE_SECONDS="5",
            VENTA_GRPC__SHUTDOWN_DRAIN_SECONDS="1",
            VENTA_GRPC__SHUTDOWN_GRACE_SECONDS="5",
        )
        self.tmp_path = tmp_path
        vendor_port = free_port()
        self.side: dict[str, int] = {}
        self.location_ports: list[int] = []
        self.processes: dict[str, VentaProcess] = {}
        self._grpc("user", "user", {"VENTA_GRPC__USER_PORT": str(free_port())})
        self._grpc("vendor", "vendor", {"VENTA_GRPC__VENDOR_PORT": str(vendor_port)})
        for name in ("location-a", "location-b"):
            port = free_port()
            self.location_ports.append(port)
            self._grpc(
                name,
                "location",
                {
                    "VENTA_GRPC__LOCATION_PORT": str(port),
                    "VENTA_SERVICES__VENDOR__ADDRESS": f"127.0.0.1:{vendor_port}",
                },
            )
        user_port = self.processes["user"].env["VENTA_GRPC__USER_PORT"]
        http_port = free_port()
        self.base = f"http://127.0.0.1:{http_port}"
        gateway_env = {
            **self.env,
            "VENTA_SERVICES__USER__ADDRESS": f"127.0.0.1:{user_port}",
            "VENTA_SERVICES__VENDOR__ADDRESS": f"127.0.0.1:{vendor_port}",
            "VENTA_SERVICES__LOCATION__ADDRESS": "ipv4:"
            + ",".join(f"127.0.0.1:{p}" for p in self.location_ports),
        }
        self.processes["gateway"] = VentaProcess(
            "gateway",
            ["serve", "gateway", "--host", "127.0.0.1", "--port", str(http_port)],
            gateway_env,
            tmp_path,
            tmp_path / "gateway.log",
        )

    def _grpc(self, name: str, service: str, env: dict[str, str]) -> None:
        self.side[name] = free_port()
        full_env = {**self.env, **env, "VENTA_GRPC__METRICS_PORT": str(self.side[name])}
        self.processes[name] = VentaProcess(
            name,
            ["serve", "grpc", "--service", service],
            full_env,
            self.tmp_path,
            self.tmp_path / f"{name}.log",
        )

    def ready(self, name: str) -> None:
        process = self.processes[name]
        url = (
            f"{self.base}/ready"
            if name == "gateway"
            else f"http://127.0.0.1:{self.side[name]}/ready"
        )
        wait_until(f"{name} /ready", partial(http_ok, url), START_TIMEOUT, watch=[process])

    def serves_writes(self, name: str) -> bool:
        """The replica answered location writes since it started (its own /metrics)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.side[name]}/metrics", timeout=5).text
        except httpx.HTTPError:
            return False
        prefix = 'venta_grpc_server_handled_total{code="OK",method="UpdateVendorLocation"'
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return bool(lines) and float(lines[0].rsplit(" ", 1)[1]) > 0

    def stop(self, *names: str) -> None:
        for name in names:
            self.processes[name].send(signal.SIGTERM)
        for name in names:
            code = self.processes[name].wait(STOP_TIMEOUT)
            assert code == 0, f"{name} exited {code} after SIGTERM"

    def restart(self, *names: str) -> None:
        for name in names:
            self.processes[name].start()
        for name in names:
            self.ready(name)
            wait_until(
                f"{name} to serve writes again",
                partial(self.serves_writes, name),
                START_TIMEOUT,
                watch=[self.processes[name]],
            )


def test_location_replicas_restarted_under_load(
    tmp_path: Path, fresh_database: str, key_prefix: str, processes: list[VentaProcess]
) -> None:
    deployment = Deployment(tmp_path, fresh_database, key_prefix)
    run_cli(["db", "migrate"], deployment.env, tmp_path)
    for process in deployment.processes.values():
        processes.append(process.start())
    for name in deployment.processes:
        deployment.ready(name)

    owner, watcher = _token("e2e-owner"), _token("e2e-watcher")
    with httpx.Client(base_url=deployment.base, timeout=30, headers=owner) as http:
        vendors = []
        for i in range(WRITERS):
            created = http.post("/v1/vendors", json={"name": f"Truck {i}"})
            assert created.status_code == 201, created.text
            vendors.append(created.json()["id"])
    load = Load(deployment.base, vendors)
    threads = [threading.Thread(target=load.writer, args=(v, owner)) for v in vendors]
    threads += [threading.Thread(target=load.reader, args=(i, watcher)) for i in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        for name in ("location-a", "location-b"):  # both replicas take writes
            wait_until(f"{name} to serve writes", partial(deployment.serves_writes, name), 60)

        # -- rolling restart: one replica is always up ---------------------------------------
        rolling = time.monotonic()
        for name in ("location-a", "location-b"):
            deployment.stop(name)
            deployment.restart(name)
        rolled = time.monotonic()
        wait_until("load after the rolling restart", lambda: load.ok_since(rolled) >= 50, 60)

        # -- no replica at all for a while: 503 only then -------------------------------------
        outage = time.monotonic()
        deployment.stop("location-a", "location-b")
        deployment.restart("location-a", "location-b")
        back = time.monotonic()
        wait_until("load after the outage", lambda: load.ok_since(back) >= 50, 60)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)

    def phase(call: Call) -> str:
        if call.ended >= outage and call.started <= back:
            return "outage"
        return "rolling" if call.ended >= rolling and call.started <= rolled else "steady"

    seen = Counter((phase(c), c.what, c.status) for c in load.calls)
    failed = {k: n for k, n in seen.items() if k[2] != 200 and (k[0], k[2]) != ("outage", 503)}
    assert not failed, f"failed calls {failed}, of {dict(seen)}"
    assert seen["rolling", "write", 200] and seen["rolling", "read", 200], dict(seen)
    assert not load.stale, load.stale[:10]

    with httpx.Client(base_url=deployment.base, timeout=30, headers=watcher) as http:
        for vendor in vendors:  # the last acknowledged write, or a later one that failed late
            read = http.get(f"/v1/vendors/{vendor}/location")
            assert read.status_code == 200, read.text
            assert _seq(read.json()["location"]["lat"]) >= load.acked[vendor]

    started = time.monotonic()
    for process in processes:
        process.send(signal.SIGTERM)
    for process in processes:
        code = process.wait(max(STOP_TIMEOUT - (time.monotonic() - started), 0.1))
        assert code == 0, f"{process.name} exited {code} after SIGTERM"
