"""Fixtures of the gRPC tests: an embedded application, a real grpc.aio server on a free
loopback port, and the same three service Protocols either in-process or over gRPC."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from venta_core.app import Venta
from venta_core.services.protocols import LocationService, UserService, VendorService
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server
from venta_core.transports.grpc.settings import GrpcSettings

ALL_SERVICES = ["user", "vendor", "location"]


@dataclass
class Services:
    """The three services as a caller sees them."""

    users: UserService
    vendors: VendorService
    locations: LocationService
    transport: str


def fast_settings(**overrides: Any) -> GrpcSettings:
    """Settings for tests: a known secret and short waits."""
    values: dict[str, Any] = {
        "identity_secret": SecretStr("grpc-test-secret-0123456789"),
        "deadline_seconds": 5.0,
        "retry_initial_backoff_seconds": 0.02,
        "retry_max_backoff_seconds": 0.1,
        "reconnect_max_backoff_seconds": 0.2,
        "shutdown_grace_seconds": 1.0,
        "shutdown_drain_seconds": 0.0,
    }
    values.update(overrides)
    return GrpcSettings(**values)


@pytest.fixture
def grpc_settings() -> GrpcSettings:
    return fast_settings()


@pytest.fixture
async def venta(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Venta]:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    settings = embedded_settings(db, database_auto_migrate=False)
    async with Venta(settings, load_entry_points=False) as app:
        yield app


@pytest.fixture
async def grpc_server(venta: Venta, grpc_settings: GrpcSettings) -> AsyncIterator[GrpcServer]:
    server = build_grpc_server(venta, ALL_SERVICES, "127.0.0.1:0", settings=grpc_settings)
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture
async def grpc_clients(grpc_settings: GrpcSettings) -> AsyncIterator[GrpcClients]:
    clients = GrpcClients(grpc_settings)
    yield clients
    await clients.stop()


@pytest.fixture
def remote(grpc_server: GrpcServer, grpc_clients: GrpcClients) -> Services:
    address = grpc_server.address
    return Services(
        grpc_clients.users(address),
        grpc_clients.vendors(address),
        grpc_clients.locations(address),
        "grpc",
    )


@pytest.fixture
def local(venta: Venta) -> Services:
    return Services(venta.users, venta.vendors, venta.locations, "local")


@pytest.fixture(params=["local", "grpc"])
def services(request: pytest.FixtureRequest) -> Iterator[Services]:
    """The contract suites run once in-process and once through a real gRPC server."""
    yield request.getfixturevalue("local" if request.param == "local" else "remote")
