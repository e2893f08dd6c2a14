"""`venta serve grpc`: option parsing, in-process serving, and a real process on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.grpc.conftest import fast_settings
from venta_cli.serve_grpc import ServeGrpcError, _addresses, parse_services, run_grpc
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.settings import Settings
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.settings import DEFAULT_PORTS


def test_parse_services() -> None:
    assert parse_services("user, Vendor,user") == ["user", "vendor"]
    assert parse_services("all") == ["user", "vendor", "location"]
    for bad in ["", "users", "user,gateway", ","]:
        with pytest.raises(ServeGrpcError):
            parse_services(bad)


def test_addresses() -> None:
    assert _addresses(["user", "location"], "0.0.0.0", None, DEFAULT_PORTS) == {
        "user": "0.0.0.0:5000",
        "location": "0.0.0.0:5001",
    }
    assert _addresses(["vendor"], "::1", 7000, DEFAULT_PORTS) == {"vendor": "[::1]:7000"}
    with pytest.raises(ServeGrpcError, match="exactly one"):
        _addresses(["user", "vendor"], "h", 7000, DEFAULT_PORTS)


async def test_run_grpc_serves_each_service_on_its_own_port(
    tmp_path: Path, sqlite_template: Path
) -> None:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    app = Venta(embedded_settings(db, database_auto_migrate=False), load_entry_points=False)
    settings = fast_settings()
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    addresses = {"user": "127.0.0.1:0", "vendor": "127.0.0.1:0"}
    task = asyncio.create_task(
        run_grpc(app, addresses, stop=stop, on_ready=ready.set_result, grpc_settings=settings)
    )
    ports = await asyncio.wait_for(ready, 10)
    assert set(ports) == {"user", "vendor"} and ports["user"] != ports["vendor"]
    clients = GrpcClients(settings)
    try:
        user = await clients.users(f"127.0.0.1:{ports['user']}").ensure_user("served")
        vendors = clients.vendors(f"127.0.0.1:{ports['vendor']}")
        vendor = await vendors.create_vendor(Actor.for_user(user), VendorCreate(name="V"))
        assert vendor.owner_id == user.id
        with pytest.raises(grpc.aio.AioRpcError) as info:  # user port hosts no vendor service
            channel = clients.pool.channel(f"127.0.0.1:{ports['user']}")
            await channel.unary_unary("/venta.v1.VendorService/GetVendor")(b"")
        assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        await clients.stop()
        stop.set()
        await asyncio.wait_for(task, 10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_serving(address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service="venta.v1.VendorService"), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


@pytest.mark.skipif("grpc" not in Settings.model_fields, reason="Settings.grpc is not wired yet")
async def test_a_real_process_drains_on_sigterm(tmp_path: Path, sqlite_template: Path) -> None:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VENTA_")},
        "VENTA_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "VENTA_DATABASE_AUTO_MIGRATE": "false",
        "VENTA_GRPC__IDENTITY_SECRET": "process-test-secret-0123456789",
        "VENTA_GRPC__VENDOR_PORT": str(port),
        "VENTA_LOG__LEVEL": "WARNING",
    }
    code = "from venta_cli.serve_grpc import serve_grpc; serve_grpc('vendor', '127.0.0.1')"
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        await _wait_serving(f"127.0.0.1:{port}", timeout=20)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()


def test_placeholder_secret_is_refused_in_production() -> None:
    from venta_core.transports.grpc.settings import GrpcSettings, placeholder_secret_error

    assert placeholder_secret_error(GrpcSettings(), "production")
    assert placeholder_secret_error(GrpcSettings(), "development") is None
    assert placeholder_secret_error(fast_settings(), "production") is None
