"""Fixtures: a local JWKS server, Clerk settings pointing at it, and a venta application with
the Clerk plugin on SQLite (and on PostgreSQL when ``VENTA_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.testing import database_settings, running_gateway

from clerk_stubs import JwksServer, SigningKey, make_clerk_settings
from venta_clerk import ClerkPlugin, ClerkSettings

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]


#: venta's fixtures for test suites (docs/plugins.md).
pytest_plugins = ["venta_core.testing"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


@pytest.fixture(scope="session")
def signing_keys() -> list[SigningKey]:
    """RSA keys are slow to make: three per session, shared (read-only)."""
    return [SigningKey.generate() for _ in range(3)]


@pytest.fixture
def jwks(signing_keys: list[SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [signing_keys[0]]
    with server.running():
        yield server


@pytest.fixture
def key(signing_keys: list[SigningKey]) -> SigningKey:
    return signing_keys[0]


@pytest.fixture
def clerk_settings(jwks: JwksServer) -> ClerkSettings:
    return make_clerk_settings(jwks)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def base_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """SQLite unless the test also asks for ``database`` and gets ``postgresql``."""
    kind = request.getfixturevalue("database") if "database" in request.fixturenames else "sqlite"
    return database_settings(kind, tmp_path, request)


@pytest.fixture
def make_app(base_settings: Settings) -> AppFactory:
    """``async with make_app(clerk_settings) as (app, client)``: a started application with
    the Clerk plugin and an HTTP client to its gateway (empty tables)."""

    def build(
        clerk: ClerkSettings | None, settings: Settings | None = None
    ) -> AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]:
        plugins = [ClerkPlugin(clerk)] if clerk is not None else []
        return running_gateway(settings or base_settings, plugins, empty=True)

    return build


@pytest.fixture
async def app_client(
    make_app: AppFactory, clerk_settings: ClerkSettings
) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
    async with make_app(clerk_settings) as pair:
        yield pair
