"""The tests of the example plugin use the fixtures venta ships for plugin authors, which a
test suite asks for (docs/plugins.md): on SQLite and, when ``VENTA_TEST_DATABASE_URL`` is set,
on PostgreSQL too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.testing import database_settings, truncate_all
from venta_core.transports.http import create_http_app

from venta_favourites import FavouritesPlugin, FavouritesSettings, LogNotifier

pytest_plugins = ["venta_core.testing"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """venta's schema migrated; the application migrates the plugin's branch at start."""
    return database_settings(database, tmp_path, request).model_copy(
        update={"database_auto_migrate": True}
    )


@pytest.fixture
def plugin() -> FavouritesPlugin:
    return FavouritesPlugin(FavouritesSettings(_env_file=None, max_per_user=2), LogNotifier())


@pytest.fixture
async def app(settings: Settings, plugin: FavouritesPlugin) -> AsyncIterator[Venta]:
    async with Venta(settings, plugins=[plugin], load_entry_points=False) as app:
        await truncate_all(app)  # the favourites go with the users and vendors
        yield app


@pytest.fixture
async def client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c
