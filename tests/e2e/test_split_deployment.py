"""One codebase as four processes: `venta serve grpc --service user|vendor|location` and
`venta serve gateway` pointed at them, on PostgreSQL, Redis and NATS, driven over REST.

The scenario: create a vendor, move it, find it in a box, read it back; a stranger's change is
refused (403 FORBIDDEN from the remote vendor and location processes); an unknown vendor is a
404 VENDOR_NOT_FOUND raised in the vendor process. The gateway's request id reaches the JSON
logs of the processes it called, two hops deep. Then the vendor process is killed with SIGKILL:
the gateway answers 503 SERVICE_UNAVAILABLE within its deadline, and recovers once the vendor
process runs again. At the end every process exits 0 on SIGTERM.
"""

from __future__ import annotations

import signal
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

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

START_TIMEOUT = 90.0  # four interpreters importing at once on a loaded 2-core machine
DEADLINE = 3.0  # the gateway's gRPC deadline (VENTA_GRPC__DEADLINE_SECONDS)
STOP_TIMEOUT = 20.0
BOX = {"swLat": 52.50, "swLong": 13.38, "neLat": 52.54, "neLong": 13.43}
SERVICES = ("user", "vendor", "location")


class Stack:
    """The four processes and how to reach them."""

    def __init__(self, tmp_path: Path, database_url: str, key_prefix: str) -> None:
        self.grpc_ports = {name: free_port() for name in SERVICES}
        self.side_ports = {name: free_port() for name in SERVICES}
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        address = {name: f"127.0.0.1:{port}" for name, port in self.grpc_ports.items()}
        self.env = services_env(
            database_url,
            key_prefix,
            VENTA_GRPC__USER_PORT=str(self.grpc_ports["user"]),
            VENTA_GRPC__VENDOR_PORT=str(self.grpc_ports["vendor"]),
            VENTA_GRPC__LOCATION_PORT=str(self.grpc_ports["location"]),
            VENTA_GRPC__DEADLINE_SECONDS=str(DEADLINE),
            VENTA_GRPC__SHUTDOWN_GRACE_SECONDS="5",
        )
        self.tmp_path = tmp_path
        self.grpc: dict[str, VentaProcess] = {}
        for name in SERVICES:
            env = {**self.env, "VENTA_GRPC__METRICS_PORT": str(self.side_ports[name])}
            if name == "location":  # ownership checks go to the vendor process
                env["VENTA_SERVICES__VENDOR__ADDRESS"] = address["vendor"]
            self.grpc[name] = VentaProcess(
                name, ["serve", "grpc", "--service", name], env, tmp_path, tmp_path / f"{name}.log"
            )
        gateway_env = {
            **self.env,
            **{f"VENTA_SERVICES__{n.upper()}__ADDRESS": a for n, a in address.items()},
        }
        self.gateway = VentaProcess(
            "gateway",
            ["serve", "gateway", "--host", "127.0.0.1", "--port", str(self.http_port)],
            gateway_env,
            tmp_path,
            tmp_path / "gateway.log",
        )

    @property
    def all(self) -> list[VentaProcess]:
        return [*self.grpc.values(), self.gateway]

    def side(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.side_ports[name]}{path}"


def _token(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DevTokenProvider(AuthSettings()).issue(subject)}"}


def _rid(label: str) -> str:
    return f"e2e-{label}-{uuid.uuid4().hex[:8]}"


def _error(response: httpx.Response, status: int, code: str, request_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["requestId"] == request_id, error
    assert response.headers["X-Request-ID"] == request_id
    return error


def _access_lines(process: VentaProcess, request_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in process.json_lines()
        if line.get("logger") == "venta.grpc.access" and line.get("request_id") == request_id
    ]


def _logged(process: VentaProcess, request_id: str, method: str, code: str) -> bool:
    return any(
        line["grpc_method"].endswith(f"/{method}") and line["code"] == code
        for line in _access_lines(process, request_id)
    )


def _wait_ready(stack: Stack, names: tuple[str, ...] = SERVICES, gateway: bool = True) -> None:
    for name in names:
        url = stack.side(name, "/ready")
        wait_until(f"{name} /ready", partial(http_ok, url), START_TIMEOUT, watch=[stack.grpc[name]])
    if gateway:
        wait_until(
            "gateway /ready",
            lambda: http_ok(f"{stack.base}/ready"),
            START_TIMEOUT,
            watch=[stack.gateway],
        )


def test_split_deployment(
    tmp_path: Path, fresh_database: str, key_prefix: str, processes: list[VentaProcess]
) -> None:
    stack = Stack(tmp_path, fresh_database, key_prefix)
    run_cli(["db", "migrate"], stack.env, tmp_path)
    for process in stack.all:
        processes.append(process.start())
    _wait_ready(stack)

    alice, bob = _token("e2e-alice"), _token("e2e-bob")
    with httpx.Client(base_url=stack.base, timeout=30) as http:
        # -- the happy path, every service in another process ---------------------------------
        create_rid = _rid("create")
        created = http.post(
            "/v1/vendors",
            json={"name": "Tacos Split"},
            headers={**alice, "X-Request-ID": create_rid},
        )
        assert created.status_code == 201, created.text
        vendor_id = created.json()["id"]

        move_rid = _rid("move")
        moved = http.put(
            f"/v1/vendors/{vendor_id}/location",
            json={"lat": 52.52, "long": 13.405},
            headers={**alice, "X-Request-ID": move_rid},
        )
        assert moved.status_code == 200, moved.text

        box = http.get("/v1/vendors/nearby", params=BOX, headers=bob)
        assert box.status_code == 200, box.text
        found = {v["id"]: v["location"] for v in box.json()["vendors"]}
        assert found[vendor_id] == {"lat": pytest.approx(52.52), "long": pytest.approx(13.405)}

        read_rid = _rid("read")
        read = http.get(f"/v1/vendors/{vendor_id}", headers={**bob, "X-Request-ID": read_rid})
        assert read.status_code == 200, read.text
        assert read.json()["name"] == "Tacos Split" and read.json()["id"] == vendor_id

        def position_persisted() -> bool:  # written behind by the location process
            body = http.get(f"/v1/vendors/{vendor_id}", headers=bob).json()
            return body.get("lat") == pytest.approx(52.52)

        wait_until("the last known position in the vendor record", position_persisted, 20)

        # -- refusals raised in the remote processes ------------------------------------------
        rid = _rid("forbidden")
        refused = http.put(
            f"/v1/vendors/{vendor_id}",
            json={"name": "Stolen"},
            headers={**bob, "X-Request-ID": rid},
        )
        _error(refused, 403, "FORBIDDEN", rid)
        rid = _rid("forbidden-move")
        refused = http.put(
            f"/v1/vendors/{vendor_id}/location",
            json={"lat": 0.0, "long": 0.0},
            headers={**bob, "X-Request-ID": rid},
        )
        _error(refused, 403, "FORBIDDEN", rid)
        assert http.get(f"/v1/vendors/{vendor_id}", headers=bob).json()["name"] == "Tacos Split"

        missing_rid = _rid("missing")
        missing = http.get(
            f"/v1/vendors/{uuid.uuid4()}", headers={**bob, "X-Request-ID": missing_rid}
        )
        _error(missing, 404, "VENDOR_NOT_FOUND", missing_rid)

        # -- the gateway's request id in the serving processes' JSON logs ----------------------
        vendor, location = stack.grpc["vendor"], stack.grpc["location"]
        wait_until(
            "request ids in the logs",
            lambda: (
                _logged(vendor, create_rid, "CreateVendor", "OK")
                and _logged(vendor, read_rid, "GetVendor", "OK")
                and _logged(vendor, missing_rid, "GetVendor", "NOT_FOUND")
                and _logged(location, move_rid, "UpdateVendorLocation", "OK")
                and _logged(vendor, move_rid, "GetVendorOwner", "OK")  # two hops deep
            ),
            10,
        )
        (create_line,) = [
            line
            for line in _access_lines(vendor, create_rid)
            if "CreateVendor" in line["grpc_method"]
        ]
        assert create_line["user_id"]  # the acting user travelled with the call

        # -- metrics on the side ports ---------------------------------------------------------
        vendor_metrics = httpx.get(stack.side("vendor", "/metrics"), timeout=10).text
        assert (
            'venta_grpc_server_handled_total{code="NOT_FOUND",method="GetVendor",'
            'service="venta.v1.VendorService"} 1.0' in vendor_metrics
        )
        assert 'venta_grpc_server_handling_seconds_count{method="CreateVendor"' in vendor_metrics
        location_metrics = httpx.get(stack.side("location", "/metrics"), timeout=10).text
        assert (
            'venta_grpc_client_handled_total{code="OK",method="GetVendorOwner",'
            'service="venta.v1.VendorService"}' in location_metrics
        )
        assert httpx.get(stack.side("user", "/health"), timeout=10).json() == {"status": "ok"}

        # -- the vendor process dies: 503 within the deadline, never 500 or a hang ------------
        vendor.kill9()
        for _ in range(2):
            rid = _rid("down")
            started = time.monotonic()
            down = http.get(f"/v1/vendors/{vendor_id}", headers={**bob, "X-Request-ID": rid})
            elapsed = time.monotonic() - started
            error = _error(down, 503, "SERVICE_UNAVAILABLE", rid)
            assert error["details"]["service"] == "vendor", error
            assert elapsed < DEADLINE + 4, f"503 took {elapsed:.1f}s"
        not_ready = http.get("/ready")
        assert not_ready.status_code == 503, not_ready.text
        failing = {k: v for k, v in not_ready.json()["checks"].items() if v != "ok"}
        assert len(failing) == 1, failing  # only the remote services check
        box = http.get("/v1/vendors/nearby", params=BOX, headers=bob)  # location still serves
        assert box.status_code == 200 and vendor_id in {v["id"] for v in box.json()["vendors"]}

        # -- it comes back: so does the gateway ------------------------------------------------
        vendor.start()
        _wait_ready(stack, ("vendor",), gateway=False)

        def vendor_served() -> bool:
            return http.get(f"/v1/vendors/{vendor_id}", headers=bob).status_code == 200

        wait_until("the gateway to reach the restarted vendor process", vendor_served, 30)
        wait_until("gateway /ready after recovery", lambda: http_ok(f"{stack.base}/ready"), 30)

    # -- SIGTERM: every process drains and exits 0 promptly -----------------------------------
    started = time.monotonic()
    for process in stack.all:
        process.send(signal.SIGTERM)
    for process in stack.all:
        code = process.wait(max(STOP_TIMEOUT - (time.monotonic() - started), 0.1))
        seconds = time.monotonic() - started
        assert code == 0, f"{process.name} exited {code} {seconds:.1f}s after SIGTERM"
