"""Suite-wide fixtures. ``backend_settings`` runs a test on the embedded backends and, when
configured (``VENTA_TEST_*_URL``, see tests/backends.py), on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.testing import embedded_settings, truncate_all

#: venta's fixtures for test suites (docs/plugins.md): loaded where asked, never by default.
pytest_plugins = ["venta_core.testing"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


@pytest.fixture(scope="session")
def sqlite_template(venta_sqlite_template: Path) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test is slow)."""
    return venta_sqlite_template


@pytest.fixture(scope="session")
def postgres_url(venta_postgres_url: str) -> str:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    return venta_postgres_url


def real_settings(postgres_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": postgres_url,
        "redis_url": real_service_url("redis"),
        "nats_url": real_service_url("nats"),
        "key_prefix": f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
        "database_auto_migrate": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(params=["embedded", "real"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_settings(
    backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest
) -> Settings:
    if backend == "embedded":
        db = tmp_path / "venta.db"
        shutil.copyfile(sqlite_template, db)
        return embedded_settings(db, database_auto_migrate=False)
    return real_settings(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def app(backend_settings: Settings) -> AsyncIterator[Venta]:
    """A started application on the backend under test, with empty tables and indexes."""
    application = Venta(backend_settings, load_entry_points=False)
    if not backend_settings.is_sqlite:
        await application.database.start()
        await truncate_all(application)
    async with application:
        yield application
        await application.geo.clear()
    if application.settings.nats_url:
        from tests.events.helpers import delete_streams

        await delete_streams(application.settings)
