"""Fixtures: a venta application with the RevenueCat plugin, on SQLite and, when
``VENTA_TEST_DATABASE_URL`` is set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.testing import database_settings, running_gateway

from revenuecat_samples import make_rc_settings
from venta_revenuecat import RevenueCatPlugin, RevenueCatSettings

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]


#: venta's fixtures for test suites (docs/plugins.md).
pytest_plugins = ["venta_core.testing"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


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
    """``async with make_app(rc_settings) as (app, client)``: a started application with the
    RevenueCat plugin and an HTTP client to its gateway (empty tables)."""

    def build(
        rc: RevenueCatSettings,
    ) -> AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]:
        return running_gateway(base_settings, [RevenueCatPlugin(rc)], empty=True)

    return build


@pytest.fixture
async def app_client(make_app: AppFactory) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
    async with make_app(make_rc_settings()) as pair:
        yield pair
