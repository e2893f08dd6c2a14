"""A deleted user over gRPC: ``EnsureUser`` answers UNAUTHENTICATED, and a gateway whose user
service is remote (a split deployment) answers 401 to the user's still valid token."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import httpx
import pytest
import sqlalchemy as sa

from tests.grpc.conftest import ALL_SERVICES, fast_settings
from venta_core.app import Venta
from venta_core.domain import Actor
from venta_core.ports.identity import DevTokenProvider
from venta_core.runner import serve
from venta_core.store.tables import users
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.errors import CODE_KEY, DETAILS_KEY, MESSAGE_KEY
from venta_core.transports.grpc.metadata import IDENTITY_KEY, REQUEST_ID_KEY, IdentitySigner
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.stubs import user_pb2, user_pb2_grpc

ENSURE = "/venta.v1.UserService/EnsureUser"


async def test_ensure_user_of_a_deleted_identity_is_unauthenticated(
    venta: Venta, grpc_server: GrpcServer, grpc_settings: GrpcSettings
) -> None:
    user = await venta.users.ensure_user("user_gone")
    await venta.users.delete_user(user.id)
    signer = IdentitySigner(grpc_settings.secret_bytes)
    metadata = [
        (REQUEST_ID_KEY, "r1"),
        (IDENTITY_KEY, signer.sign(Actor.for_system("gateway"), "r1", ENSURE)),
    ]

    async with grpc.aio.insecure_channel(grpc_server.address) as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnsureUser(
                user_pb2.EnsureUserRequest(external_id="user_gone"), metadata=metadata
            )

    trailers = dict(info.value.trailing_metadata() or ())
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert trailers[CODE_KEY] == "UNAUTHENTICATED"
    assert trailers[MESSAGE_KEY] == b"This account was deleted"
    assert json.loads(trailers[DETAILS_KEY]) == {"reason": "account deleted"}
    assert await venta.users.find_by_external_id("user_gone") is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Split:
    backend: Venta  # the process serving the services over gRPC
    url: str  # the HTTP gateway calling them
    tokens: DevTokenProvider


@pytest.fixture
async def split(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Split]:
    """An HTTP gateway (through the runner) whose services are all on a gRPC server. Its
    identity cache is off: each request asks the user service (EnsureUser)."""
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    grpc_settings = fast_settings()
    backend_settings = embedded_settings(db, database_auto_migrate=False, grpc=grpc_settings)
    async with Venta(backend_settings, load_entry_points=False) as backend:
        server = build_grpc_server(backend, ALL_SERVICES, "127.0.0.1:0", settings=grpc_settings)
        await server.start()
        try:
            remote = {name: {"address": server.address} for name in ALL_SERVICES}
            settings = embedded_settings(
                db,
                database_auto_migrate=False,
                grpc=grpc_settings,
                services=remote,
                http={"host": "127.0.0.1", "port": _free_port()},
                auth={"identity_cache_seconds": 0},
                rate_limit={"enabled": False},
            )
            stop = asyncio.Event()
            ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
            gateway = Venta(settings, load_entry_points=False)
            task = asyncio.create_task(
                serve(gateway, ["gateway"], stop=stop, on_ready=ready.set_result)
            )
            try:
                ports = await asyncio.wait_for(ready, 15)
                url = f"http://127.0.0.1:{ports['gateway']}"
                yield Split(backend, url, DevTokenProvider(settings.auth))
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
        finally:
            await server.stop(0)


async def test_a_split_gateway_refuses_a_deleted_users_token(split: Split) -> None:
    headers = {"Authorization": f"Bearer {split.tokens.issue('user_split')}"}
    async with httpx.AsyncClient(base_url=split.url, timeout=10) as http:
        me = await http.get("/v1/me", headers=headers)
        assert me.status_code == 200, me.text
        await split.backend.users.delete_user(me.json()["id"])

        again = await http.get("/v1/me", headers=headers)
        create = await http.post("/v1/vendors", json={"name": "Ghost"}, headers=headers)

    for response in (again, create):
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("UNAUTHENTICATED", "This account was deleted")
    async with split.backend.database.connect() as conn:
        count = sa.select(sa.func.count()).where(users.c.external_id == "user_split")
        assert (await conn.execute(count)).scalar_one() == 0
