"""The HTTP side port of a gRPC process (/health, /ready, /metrics) and refusals of taken ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.grpc.conftest import fast_settings
from venta_cli.serve_grpc import run_grpc
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.observability.metrics import new_registry
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.ops import create_ops_app
from venta_core.transports.grpc.settings import GrpcSettings


def test_side_port_defaults_follow_the_grpc_port() -> None:
    settings = GrpcSettings()
    assert settings.metrics_port is None
    assert [settings.metrics_port_for(p) for p in (5000, 5001, 5005)] == [9000, 9001, 9005]
    assert settings.metrics_port_for(0) == 0  # any free port when gRPC picks one too
    assert settings.metrics_port_for(63000) == 0  # no valid port at +4000
    assert GrpcSettings(metrics_port=9100).metrics_port_for(5005) == 9100


async def test_side_app_answers_health_ready_and_metrics() -> None:
    checks: dict[str, str | None] = {"database": None, "grpc-server": None}

    async def probe() -> dict[str, str | None]:
        return dict(checks)

    app = create_ops_app(probe, new_registry())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:
        health = await client.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "grpc-server": "ok"},
        }
        checks["grpc-server"] = "not serving (starting or draining)"
        unready = await client.get("/ready")
        assert unready.status_code == 503 and unready.json()["status"] == "unavailable"
        assert unready.json()["checks"]["grpc-server"].startswith("not serving")
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")


async def test_run_grpc_serves_the_side_port(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    app = Venta(embedded_settings(db, database_auto_migrate=False), load_entry_points=False)
    settings = fast_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[dict[str, int]] = loop.create_future()
    ops_port: asyncio.Future[int] = loop.create_future()
    task = asyncio.create_task(
        run_grpc(
            app,
            {"user": "127.0.0.1:0", "vendor": "127.0.0.1:0"},
            stop=stop,
            on_ready=ready.set_result,
            on_ops_ready=ops_port.set_result,
            grpc_settings=settings,
            metrics_port=0,
        )
    )
    ports = await asyncio.wait_for(ready, 10)
    side = f"http://127.0.0.1:{await ops_port}"
    clients = GrpcClients(settings)
    try:
        user = await clients.users(f"127.0.0.1:{ports['user']}").ensure_user("side")
        vendors = clients.vendors(f"127.0.0.1:{ports['vendor']}")
        await vendors.create_vendor(Actor.for_user(user), VendorCreate(name="Side"))
        async with httpx.AsyncClient(base_url=side, timeout=10) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            ready_body = (await http.get("/ready")).json()
            assert ready_body["status"] == "ready"
            checks = ready_body["checks"]
            assert checks["grpc-server"] == "ok" and checks["database"] == "ok"
            text = (await http.get("/metrics")).text
        assert (
            'venta_grpc_server_handled_total{code="OK",method="CreateVendor",'
            'service="venta.v1.VendorService"} 1.0' in text
        )
        assert 'venta_grpc_server_handled_total{code="OK",method="EnsureUser"' in text
    finally:
        await clients.stop()
        stop.set()
        await asyncio.wait_for(task, 15)
    with pytest.raises(httpx.ConnectError):  # the side port closes with the process
        async with httpx.AsyncClient(base_url=side, timeout=2) as http:
            await http.get("/health")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _venta(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    clean["VENTA_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'venta.db'}"
    clean.update(env)
    cli = Path(sys.executable).with_name("venta")
    return subprocess.run(
        [str(cli), *args], env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_serve_grpc_refuses_a_taken_grpc_port_in_one_line(tmp_path: Path, taken_port: int) -> None:
    result = _venta(tmp_path, "serve", "grpc", "--service", "vendor", "--port", str(taken_port))
    assert result.returncode == 1
    assert (
        result.stderr == f"error: cannot listen on 127.0.0.1:{taken_port}: address already in use\n"
    )
    assert result.stdout == ""


def test_serve_grpc_refuses_a_taken_side_port_in_one_line(tmp_path: Path, taken_port: int) -> None:
    result = _venta(
        tmp_path,
        "serve",
        "grpc",
        "--service",
        "user",
        "--port",
        "0",
        VENTA_GRPC__METRICS_PORT=str(taken_port),
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{taken_port} for /health")
    assert result.stderr.endswith("(VENTA_GRPC__METRICS_PORT): address already in use\n")
