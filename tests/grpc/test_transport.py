"""The gRPC transport itself: identity, request id, errors, deadlines, health, reflection."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.grpc.conftest import Services, fast_settings
from tests.grpc.spies import SpyVendors, spy_host
from venta_core.app import Venta
from venta_core.context import RequestContext, request_context
from venta_core.domain import Actor, VendorCreate
from venta_core.errors import InternalError, ServiceUnavailable, Unauthenticated, ValidationFailed
from venta_core.transports.grpc.clients import GrpcClients, GrpcVendorClient
from venta_core.transports.grpc.errors import CODE_KEY
from venta_core.transports.grpc.metadata import IDENTITY_KEY, REQUEST_ID_KEY, IdentitySigner
from venta_core.transports.grpc.server import GrpcServer, GrpcServerError, build_grpc_server
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.stubs import vendor_pb2, vendor_pb2_grpc

GET = "/venta.v1.VendorService/GetVendor"
ALICE = Actor(user_id="alice-id", external_id="alice")


@pytest.fixture
def spy() -> SpyVendors:
    return SpyVendors()


@pytest.fixture
async def spy_server(spy: SpyVendors, grpc_settings: GrpcSettings) -> AsyncIterator[GrpcServer]:
    server = build_grpc_server(
        spy_host(grpc_settings, spy), ["vendor"], "127.0.0.1:0", settings=grpc_settings
    )
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture
def vendors(spy_server: GrpcServer, grpc_clients: GrpcClients) -> GrpcVendorClient:
    return grpc_clients.vendors(spy_server.address)


# -- identity and request id ---------------------------------------------------------------------


async def _raw_get(address: str, metadata: list[tuple[str, str]]) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = vendor_pb2_grpc.VendorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetVendor(vendor_pb2.GetVendorRequest(vendor_id="v"), metadata=metadata)
    return info.value


async def test_calls_without_a_valid_identity_are_refused(
    spy_server: GrpcServer, spy: SpyVendors, grpc_settings: GrpcSettings
) -> None:
    good = IdentitySigner(grpc_settings.secret_bytes)
    forged = IdentitySigner(b"not-the-deployment-secret").sign(ALICE, "r1", GET)
    expired = IdentitySigner(grpc_settings.secret_bytes, clock=lambda: 1000.0).sign(
        ALICE, "r1", GET
    )
    cases = [
        [],
        [(REQUEST_ID_KEY, "r1")],
        [(REQUEST_ID_KEY, "r1"), (IDENTITY_KEY, forged)],
        [(REQUEST_ID_KEY, "r1"), (IDENTITY_KEY, expired)],
        [(REQUEST_ID_KEY, "r2"), (IDENTITY_KEY, good.sign(ALICE, "r1", GET))],
        [(REQUEST_ID_KEY, "r1"), (IDENTITY_KEY, good.sign(ALICE, "r1", GET + "x"))],
        [(REQUEST_ID_KEY, "r1"), (IDENTITY_KEY, "v1.e30.AAAA")],
    ]
    for metadata in cases:
        error = await _raw_get(spy_server.address, metadata)
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, metadata
        assert dict(error.trailing_metadata())[CODE_KEY] == "UNAUTHENTICATED"
    assert spy.seen == []  # the service never ran


async def test_a_client_with_another_secret_gets_unauthenticated(spy_server: GrpcServer) -> None:
    other = GrpcClients(fast_settings(identity_secret="some-other-secret-0123456789"))
    try:
        with pytest.raises(Unauthenticated):
            await other.vendors(spy_server.address).get_vendor("v")
    finally:
        await other.stop()


async def test_request_id_and_actor_reach_the_service(
    vendors: GrpcVendorClient, spy: SpyVendors
) -> None:
    with request_context(RequestContext("req-42", identity="alice", user_id="alice-id")):
        await vendors.get_vendor("v")
        await vendors.create_vendor(Actor.for_system("relay"), VendorCreate(name="n"))
    read, create = spy.seen
    assert read.context == RequestContext("req-42", identity="alice", user_id="alice-id")
    assert create.context is not None and create.context.request_id == "req-42"
    assert create.actor == Actor.for_system("relay")  # the explicit actor, verified
    await vendors.get_vendor("v")  # no context: a fresh request id is made up
    assert spy.seen[-1].context is not None and spy.seen[-1].context.request_id != "req-42"
    assert spy.seen[-1].context.user_id is None


async def test_health_and_reflection_need_no_identity(grpc_settings: GrpcSettings) -> None:
    settings = grpc_settings.model_copy(update={"reflection": True})
    server = build_grpc_server(spy_host(settings, SpyVendors()), ["vendor"], "127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ["", "venta.v1.VendorService"]:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await health.Check(health_pb2.HealthCheckRequest(service="venta.v1.UserService"))
            assert info.value.code() is grpc.StatusCode.NOT_FOUND
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            reply = await call.read()
            names = {s.name for s in reply.list_services_response.service}
            assert "venta.v1.VendorService" in names
    finally:
        await server.stop(0)


# -- errors and deadlines ------------------------------------------------------------------------


async def test_unexpected_errors_become_a_generic_internal(
    vendors: GrpcVendorClient, spy: SpyVendors, caplog: pytest.LogCaptureFixture
) -> None:
    spy.fail = RuntimeError("password=hunter2 in a traceback")
    with pytest.raises(InternalError) as info:
        await vendors.get_vendor("v")
    assert "hunter2" not in info.value.message and "hunter2" not in str(info.value.details)
    assert "hunter2" in caplog.text  # logged server-side with its traceback


async def test_unicode_messages_and_details_survive(
    vendors: GrpcVendorClient, spy: SpyVendors
) -> None:
    spy.fail = ValidationFailed("Ungültig: 名前 ✗", details={"field": "名前", "n": [1, None]})
    with pytest.raises(ValidationFailed) as info:
        await vendors.get_vendor("v")
    assert info.value.message == "Ungültig: 名前 ✗"
    assert info.value.details == {"field": "名前", "n": [1, None]}


async def test_deadline(spy_server: GrpcServer, spy: SpyVendors) -> None:
    spy.delay = 2.0
    clients = GrpcClients(fast_settings(deadline_seconds=0.2))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ServiceUnavailable) as info:
            await clients.vendors(spy_server.address).get_vendor("v")
        assert loop.time() - started < 1.5
        assert info.value.details["grpcStatus"] == "DEADLINE_EXCEEDED"
    finally:
        await clients.stop()


async def test_unencodable_requests_are_validation_errors(vendors: GrpcVendorClient) -> None:
    with pytest.raises(ValidationFailed):
        await vendors.get_vendor("\ud800")


# -- server construction -------------------------------------------------------------------------


async def test_server_refuses_unknown_services_and_remote_ones(
    venta: Venta, grpc_settings: GrpcSettings, grpc_clients: GrpcClients
) -> None:
    with pytest.raises(GrpcServerError, match="unknown gRPC service"):
        build_grpc_server(venta, ["vendors"], "127.0.0.1:0", settings=grpc_settings)
    with pytest.raises(GrpcServerError, match="unknown gRPC service"):
        build_grpc_server(venta, [], "127.0.0.1:0", settings=grpc_settings)
    host = spy_host(grpc_settings, grpc_clients.vendors("127.0.0.1:1"))
    with pytest.raises(GrpcServerError, match="configured as remote"):
        build_grpc_server(host, ["vendor"], "127.0.0.1:0")


async def test_busy_port_is_an_error(spy_server: GrpcServer, grpc_settings: GrpcSettings) -> None:
    with pytest.raises(GrpcServerError, match="cannot listen"):
        build_grpc_server(spy_host(grpc_settings, SpyVendors()), ["vendor"], spy_server.address)


# -- local and remote agree exactly --------------------------------------------------------------


async def test_remote_results_equal_local_results(local: Services, remote: Services) -> None:
    from venta_core.domain import Location, SubscriptionStatus, SubscriptionUpdate

    user = await local.users.ensure_user("same")
    actor = Actor.for_user(user)
    vendor = await remote.vendors.create_vendor(actor, VendorCreate(name="Both", description=""))
    await remote.locations.update_vendor_location(actor, vendor.id, Location(lat=1.5, long=-2.25))
    update = SubscriptionUpdate(status=SubscriptionStatus.ACTIVE, provider="p", event_id="e")
    await remote.users.set_subscription(user.id, update)
    await remote.locations.update_user_location(actor, Location(lat=3, long=4))
    assert await remote.users.get_user(user.id) == await local.users.get_user(user.id)
    assert await remote.vendors.get_vendor(vendor.id) == await local.vendors.get_vendor(vendor.id)
    assert await remote.locations.get_vendor_location(
        vendor.id
    ) == await local.locations.get_vendor_location(vendor.id)
    assert await remote.users.list_user_vendors(user.id) == await local.users.list_user_vendors(
        user.id
    )


async def test_readiness_check_of_remote_services(
    spy_server: GrpcServer, grpc_settings: GrpcSettings
) -> None:
    clients = GrpcClients(fast_settings(deadline_seconds=0.5))
    try:
        clients.vendors(spy_server.address)
        await clients.check()
        clients.users(spy_server.address)  # that server does not host UserService
        with pytest.raises(ConnectionError, match=r"venta\.v1\.UserService.*NOT_FOUND"):
            await clients.check()
    finally:
        await clients.stop()


# -- connection age ------------------------------------------------------------------------------


async def test_connections_are_recycled_after_their_maximum_age(spy: SpyVendors) -> None:
    settings = fast_settings(max_connection_age_seconds=0.5, max_connection_age_grace_seconds=0.5)
    server = build_grpc_server(
        spy_host(settings, spy), ["vendor"], "127.0.0.1:0", settings=settings
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert channel.get_state() == grpc.ChannelConnectivity.READY
            # the server says goodbye once the connection is old enough; the channel goes idle
            await asyncio.wait_for(
                channel.wait_for_state_change(grpc.ChannelConnectivity.READY), timeout=5
            )
            assert channel.get_state() != grpc.ChannelConnectivity.READY
            # and the next call simply opens a new connection
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(0)


# -- rotating the identity secret ----------------------------------------------------------------

OLD_SECRET = "grpc-test-secret-0123456789"  # the secret of fast_settings()
NEW_SECRET = "rotated-grpc-secret-9876543210"


async def _get_vendor_across(server_settings: GrpcSettings, client_settings: GrpcSettings) -> None:
    """One call from a process on ``client_settings`` to a server on ``server_settings``."""
    spy = SpyVendors()
    server = build_grpc_server(
        spy_host(server_settings, spy), ["vendor"], "127.0.0.1:0", settings=server_settings
    )
    await server.start()
    clients = GrpcClients(client_settings)
    try:
        await clients.vendors(server.address).get_vendor("v")
        assert [seen.context is not None for seen in spy.seen] == [True]
    finally:
        await clients.stop()
        await server.stop(0)


async def test_the_identity_secret_rotates_without_refused_calls() -> None:
    """Each step of the rotation of docs/operations.md against the step before it, both ways:
    a gateway restarted on the new settings calls a vendor service still on the old ones, and
    the other way."""
    steps = [
        fast_settings(identity_secret=OLD_SECRET),
        fast_settings(identity_secret=OLD_SECRET, identity_secret_accepted=NEW_SECRET),
        fast_settings(identity_secret=NEW_SECRET, identity_secret_accepted=OLD_SECRET),
        fast_settings(identity_secret=NEW_SECRET),
    ]
    for before, after in itertools.pairwise(steps):
        await _get_vendor_across(server_settings=before, client_settings=after)
        await _get_vendor_across(server_settings=after, client_settings=before)


async def test_the_old_secret_is_refused_once_the_rotation_ends() -> None:
    with pytest.raises(Unauthenticated):
        await _get_vendor_across(
            server_settings=fast_settings(identity_secret=NEW_SECRET),
            client_settings=fast_settings(identity_secret=OLD_SECRET),
        )
    with pytest.raises(Unauthenticated):  # skipping the first step refuses calls too
        await _get_vendor_across(
            server_settings=fast_settings(identity_secret=OLD_SECRET),
            client_settings=fast_settings(
                identity_secret=NEW_SECRET, identity_secret_accepted=OLD_SECRET
            ),
        )
