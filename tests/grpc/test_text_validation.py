"""Text the database cannot store (NUL) is refused by the gRPC server with INVALID_ARGUMENT,
through the same domain models as HTTP and Socket.IO (``domain.text``)."""

from __future__ import annotations

import grpc.aio
import pytest

from venta_core.app import Venta
from venta_core.domain import Actor
from venta_core.transports.grpc.errors import CODE_KEY
from venta_core.transports.grpc.metadata import IDENTITY_KEY, REQUEST_ID_KEY, IdentitySigner
from venta_core.transports.grpc.server import GrpcServer
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.stubs import user_pb2, user_pb2_grpc, vendor_pb2, vendor_pb2_grpc


def _metadata(settings: GrpcSettings, actor: Actor, method: str) -> list[tuple[str, str]]:
    identity = IdentitySigner(settings.secret_bytes).sign(actor, "r1", method)
    return [(REQUEST_ID_KEY, "r1"), (IDENTITY_KEY, identity)]


def _venta_code(error: grpc.aio.AioRpcError) -> str | None:
    trailers = error.trailing_metadata() or ()
    return next((str(v) for k, v in trailers if k == CODE_KEY), None)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Taco\x00Truck"},
        {"name": "Taco", "description": "al\x00pastor"},
        {"name": "Taco", "website": "https://taco.example/\x00"},
    ],
)
async def test_create_vendor_with_nul_is_invalid_argument(
    venta: Venta, grpc_server: GrpcServer, grpc_settings: GrpcSettings, fields: dict[str, str]
) -> None:
    owner = Actor.for_user(await venta.users.ensure_user("owner"))
    method = "/venta.v1.VendorService/CreateVendor"
    async with grpc.aio.insecure_channel(grpc_server.address) as channel:
        stub = vendor_pb2_grpc.VendorServiceStub(channel)
        request = vendor_pb2.CreateVendorRequest(vendor=vendor_pb2.VendorCreate(**fields))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateVendor(request, metadata=_metadata(grpc_settings, owner, method))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _venta_code(info.value) == "VALIDATION_ERROR"
    assert "NUL" in (info.value.details() or "")
    assert await venta.users.list_user_vendors(str(owner.user_id)) == []


async def test_ensure_user_with_nul_is_invalid_argument(
    venta: Venta, grpc_server: GrpcServer, grpc_settings: GrpcSettings
) -> None:
    method = "/venta.v1.UserService/EnsureUser"
    async with grpc.aio.insecure_channel(grpc_server.address) as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.EnsureUser(
                user_pb2.EnsureUserRequest(external_id="user\x00x"),
                metadata=_metadata(grpc_settings, Actor.for_system("test"), method),
            )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _venta_code(info.value) == "VALIDATION_ERROR"
    assert await venta.users.find_by_external_id("user\x00x") is None
