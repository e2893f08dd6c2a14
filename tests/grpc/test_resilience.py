"""Retries, deadlines and graceful shutdown, against servers that stop and start for real."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2

from tests.grpc.conftest import fast_settings
from tests.grpc.spies import SpyVendors, spy_host
from venta_core.domain import Actor, VendorCreate
from venta_core.errors import ServiceUnavailable, VendorNotFound
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server

OWNER = Actor(user_id="owner")


class CountingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Counts call attempts per method name."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        self.attempts[method.rsplit("/", 1)[-1]] += 1
        return await continuation(details, request)


@pytest.fixture
def spy() -> SpyVendors:
    return SpyVendors()


@pytest.fixture
def counter() -> CountingInterceptor:
    return CountingInterceptor()


async def _serve(spy: SpyVendors, address: str) -> GrpcServer:
    server = build_grpc_server(
        spy_host(fast_settings(), spy), ["vendor"], address, settings=fast_settings()
    )
    await server.start()
    return server


@pytest.fixture
async def down_port(spy: SpyVendors) -> int:
    """A loopback port where a server ran and has just stopped."""
    server = await _serve(spy, "127.0.0.1:0")
    await server.stop(0)
    return server.port


@pytest.fixture
async def clients(counter: CountingInterceptor) -> AsyncIterator[GrpcClients]:
    settings = fast_settings(
        retry_max_attempts=10,
        retry_initial_backoff_seconds=0.1,
        retry_max_backoff_seconds=0.3,
        deadline_seconds=5.0,
    )
    clients = GrpcClients(settings, interceptors=[counter])
    yield clients
    await clients.stop()


async def test_idempotent_calls_are_retried_until_the_server_is_back(
    spy: SpyVendors, down_port: int, clients: GrpcClients, counter: CountingInterceptor
) -> None:
    address = f"127.0.0.1:{down_port}"

    async def restart_later() -> GrpcServer:
        await asyncio.sleep(0.2)
        return await _serve(spy, address)

    restarting = asyncio.create_task(restart_later())
    try:
        vendor = await clients.vendors(address).get_vendor("v-1")
        assert vendor.id == "v-1"
        assert counter.attempts["GetVendor"] > 1
        with pytest.raises(VendorNotFound):  # deletes are retried too, and answered for real
            await clients.vendors(address).delete_vendor(OWNER, "v-1")
    finally:
        await (await restarting).stop(0)


async def test_create_vendor_is_never_retried(
    spy: SpyVendors, down_port: int, clients: GrpcClients, counter: CountingInterceptor
) -> None:
    address = f"127.0.0.1:{down_port}"
    with pytest.raises(ServiceUnavailable) as info:
        await clients.vendors(address).create_vendor(OWNER, VendorCreate(name="Once"))
    assert info.value.details == {"service": "vendor", "grpcStatus": "UNAVAILABLE"}
    assert counter.attempts["CreateVendor"] == 1
    server = await _serve(spy, address)
    try:
        await clients.vendors(address).get_vendor("v")  # retried until the channel is back
        assert spy.created == 0
        created = await clients.vendors(address).create_vendor(OWNER, VendorCreate(name="Once"))
        assert created.owner_id == "owner" and spy.created == 1
    finally:
        await server.stop(0)


async def test_reads_against_a_dead_port_give_up_within_the_deadline(
    down_port: int, counter: CountingInterceptor
) -> None:
    clients = GrpcClients(
        fast_settings(deadline_seconds=0.6, retry_max_attempts=10), interceptors=[counter]
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(ServiceUnavailable):
            await clients.vendors(f"127.0.0.1:{down_port}").get_vendor("v")
    finally:
        await clients.stop()
    assert loop.time() - started < 1.2
    assert counter.attempts["GetVendor"] > 1


async def test_unavailable_raised_by_the_service_is_not_retried(
    spy: SpyVendors, clients: GrpcClients, counter: CountingInterceptor
) -> None:
    server = await _serve(spy, "127.0.0.1:0")
    spy.fail = ServiceUnavailable("database down", details={"backend": "db"})
    try:
        with pytest.raises(ServiceUnavailable) as info:
            await clients.vendors(server.address).get_vendor("v")
        assert info.value.message == "database down" and info.value.details == {"backend": "db"}
        assert counter.attempts["GetVendor"] == 1
    finally:
        await server.stop(0)


async def test_graceful_stop_finishes_in_flight_calls_and_reports_not_serving(
    spy: SpyVendors, clients: GrpcClients
) -> None:
    server = await _serve(spy, "127.0.0.1:0")
    vendors = clients.vendors(server.address)
    await vendors.get_vendor("warm-up")
    spy.delay = 0.5
    in_flight = asyncio.create_task(vendors.get_vendor("slow"))
    await asyncio.sleep(0.2)
    stopping = asyncio.create_task(server.stop(3.0))
    await asyncio.sleep(0.05)
    request = health_pb2.HealthCheckRequest(service="venta.v1.VendorService")
    status = (await server.health.Check(request, None)).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert (await in_flight).id == "slow"
    await stopping
    with pytest.raises(ServiceUnavailable):
        await vendors.create_vendor(OWNER, VendorCreate(name="after"))
