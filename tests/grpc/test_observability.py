"""gRPC observability: server and client metrics, and access lines in the caller's context."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.events.helpers import wait_until
from tests.grpc.conftest import ALL_SERVICES, fast_settings
from venta_core.app import Venta
from venta_core.context import RequestContext, request_context
from venta_core.domain import Actor, VendorCreate
from venta_core.errors import ServiceUnavailable, Unauthenticated, VendorNotFound
from venta_core.observability.grpc_metrics import GrpcServerMetrics, split_method
from venta_core.observability.logging import configure_logging
from venta_core.observability.metrics import new_registry
from venta_core.settings import LogSettings
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server
from venta_core.transports.grpc.settings import GrpcSettings

MISSING = "00000000-0000-4000-8000-000000000000"
VENDOR = "venta.v1.VendorService"


@pytest.fixture
def registry() -> CollectorRegistry:
    return new_registry()


@pytest.fixture
async def observed_server(
    venta: Venta, grpc_settings: GrpcSettings, registry: CollectorRegistry
) -> AsyncIterator[GrpcServer]:
    server = build_grpc_server(
        venta,
        ALL_SERVICES,
        "127.0.0.1:0",
        settings=grpc_settings,
        metrics=GrpcServerMetrics(registry),
    )
    await server.start()
    yield server
    await server.stop(0)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def _true(value: bool) -> bool:
    return value


def test_split_method() -> None:
    assert split_method("/venta.v1.VendorService/GetVendor") == (VENDOR, "GetVendor")
    assert split_method("odd") == ("unknown", "odd")


async def test_server_counts_calls_by_service_method_and_code(
    observed_server: GrpcServer, grpc_clients: GrpcClients, registry: CollectorRegistry
) -> None:
    users = grpc_clients.users(observed_server.address)
    vendors = grpc_clients.vendors(observed_server.address)
    owner = await users.ensure_user("metrics-owner")
    vendor = await vendors.create_vendor(Actor.for_user(owner), VendorCreate(name="Counted"))
    await vendors.get_vendor(vendor.id)
    await vendors.get_vendor(vendor.id)
    with pytest.raises(VendorNotFound):
        await vendors.get_vendor(MISSING)
    stranger = GrpcClients(fast_settings(identity_secret=SecretStr("another-secret-0123456789")))
    try:
        with pytest.raises(Unauthenticated):
            await stranger.vendors(observed_server.address).get_vendor(vendor.id)
    finally:
        await stranger.stop()

    count = "venta_grpc_server_handling_seconds_count"
    # A call is recorded as its status goes out: the client may see the answer a moment before.
    calls = {"service": VENDOR, "method": "GetVendor"}
    await wait_until(lambda: _true(_value(registry, count, **calls) >= 4))
    handled = "venta_grpc_server_handled_total"
    assert _value(registry, handled, service=VENDOR, method="GetVendor", code="OK") == 2
    assert _value(registry, handled, service=VENDOR, method="GetVendor", code="NOT_FOUND") == 1
    assert _value(registry, handled, service=VENDOR, method="CreateVendor", code="OK") == 1
    refused = _value(registry, handled, service=VENDOR, method="GetVendor", code="UNAUTHENTICATED")
    assert refused == 1  # refused before the service ran, still counted
    assert _value(registry, count, service=VENDOR, method="GetVendor") == 4
    assert _value(registry, "venta_grpc_server_in_progress", service=VENDOR) == 0


async def test_client_metrics_count_logical_calls_and_retries(
    observed_server: GrpcServer, grpc_clients: GrpcClients
) -> None:
    registry = CollectorRegistry()
    registry.register(grpc_clients.metrics)
    vendors = grpc_clients.vendors(observed_server.address)
    with pytest.raises(VendorNotFound):
        await vendors.get_vendor(MISSING)
    handled = "venta_grpc_client_handled_total"
    assert _value(registry, handled, service=VENDOR, method="GetVendor", code="NOT_FOUND") == 1

    port = observed_server.port
    await observed_server.stop(0)
    dead = GrpcClients(fast_settings(retry_max_attempts=3, deadline_seconds=2.0))
    registry = CollectorRegistry()  # one registry per process, one set of client metrics each
    registry.register(dead.metrics)
    try:
        with pytest.raises(ServiceUnavailable):
            await dead.vendors(f"127.0.0.1:{port}").get_vendor(MISSING)
    finally:
        await dead.stop()
    assert _value(registry, handled, service=VENDOR, method="GetVendor", code="UNAVAILABLE") == 1
    assert _value(registry, "venta_grpc_client_retries_total", service=VENDOR, method="GetVendor")
    seconds = "venta_grpc_client_handling_seconds_count"
    assert _value(registry, seconds, service=VENDOR, method="GetVendor") == 1


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    handler = configure_logging(LogSettings(level="INFO", json_format=True))
    try:
        yield capsys
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_access_lines_carry_the_callers_request_id_and_user(
    observed_server: GrpcServer,
    grpc_clients: GrpcClients,
    json_logs: pytest.CaptureFixture[str],
) -> None:
    users = grpc_clients.users(observed_server.address)
    vendors = grpc_clients.vendors(observed_server.address)
    owner = await users.ensure_user("logged-owner")
    with request_context(RequestContext(request_id="gateway-req-42")):
        await vendors.create_vendor(Actor.for_user(owner), VendorCreate(name="Logged"))
        with pytest.raises(VendorNotFound):
            await vendors.get_vendor(MISSING)

    err = ""

    async def written() -> bool:  # the line follows the status to the client by a moment
        nonlocal err
        err += json_logs.readouterr().err
        return f"/{VENDOR}/GetVendor" in err

    await wait_until(written)
    access = [line for line in _lines(err) if line["logger"] == "venta.grpc.access"]
    created = [line for line in access if line["grpc_method"] == f"/{VENDOR}/CreateVendor"]
    assert created and created[0]["request_id"] == "gateway-req-42"
    assert created[0]["user_id"] == owner.id and created[0]["code"] == "OK"
    missing = [line for line in access if line["grpc_method"] == f"/{VENDOR}/GetVendor"]
    assert missing and missing[0]["request_id"] == "gateway-req-42"
    assert missing[0]["code"] == "NOT_FOUND"
    assert isinstance(missing[0]["duration_ms"], float)
