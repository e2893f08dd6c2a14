"""A gateway whose services are remote shows its gRPC client calls on its own /metrics, and its
HTTP listener does not stall keep-alive responses (TCP_NODELAY)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.grpc.conftest import fast_settings
from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.runner import bind_socket, serve
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.server import build_grpc_server

MISSING = "00000000-0000-4000-8000-000000000000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def gateway(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    """An HTTP gateway (through the runner) whose vendor service is a gRPC server."""
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    grpc = fast_settings()
    async with Venta(
        embedded_settings(db, database_auto_migrate=False, grpc=grpc), load_entry_points=False
    ) as backend:
        server = build_grpc_server(backend, ["vendor"], "127.0.0.1:0", settings=grpc)
        await server.start()
        try:
            settings = embedded_settings(
                db,
                database_auto_migrate=False,
                grpc=grpc,
                services={"vendor": {"address": server.address}},
                http={"host": "127.0.0.1", "port": _free_port()},
                rate_limit={"enabled": False},
            )
            stop = asyncio.Event()
            ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
            app = Venta(settings, load_entry_points=False)
            task = asyncio.create_task(
                serve(app, ["gateway"], stop=stop, on_ready=ready.set_result)
            )
            try:
                ports = await asyncio.wait_for(ready, 15)
                yield f"http://127.0.0.1:{ports['gateway']}"
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
        finally:
            await server.stop(0)


async def test_gateway_metrics_show_grpc_client_calls(gateway: str) -> None:
    token = DevTokenProvider(embedded_settings(Path("unused.db")).auth).issue("metered")
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        missing = await http.get(
            f"/v1/vendors/{MISSING}", headers={"Authorization": f"Bearer {token}"}
        )
        assert missing.status_code == 404
        text = (await http.get("/metrics")).text
    assert (
        'venta_grpc_client_handled_total{code="NOT_FOUND",method="GetVendor",'
        'service="venta.v1.VendorService"} 1.0' in text
    )


def test_the_gateway_listener_sets_tcp_nodelay() -> None:
    """Without TCP_NODELAY on accepted sockets, each keep-alive response written in two parts
    waits for the client's delayed ACK (about 40 ms on Linux) under the standard event loop,
    which is the loop of every process with remote services."""
    listener = bind_socket("127.0.0.1", 0)
    try:
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                accepted.setblocking(False)
                nodelay = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                inherits = accepted.proto == socket.IPPROTO_TCP  # asyncio sets it then
        assert nodelay or inherits
    finally:
        listener.close()
