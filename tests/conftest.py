"""Suite-wide fixtures. ``backend_settings`` runs a test on the embedded backends and, when
configured (``VENTA_TEST_*_URL``, see tests/backends.py), on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.store.tables import metadata
from venta_core.testing import embedded_settings


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment() -> Iterator[None]:
    """The developer's own VENTA_* variables must not change what the tests see."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("VENTA_") and "_TEST_" not in k}
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test is slow)."""
    from venta_core.store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "venta.db"
    upgrade(embedded_settings(path))
    return path


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated once, dropped at the end."""
    base = real_service_url("database")
    name = f"venta_{RUN_PREFIX}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    from venta_core.store.migrate import upgrade

    upgrade(Settings(_env_file=None, database_url=url))
    yield url
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


async def _truncate(app: Venta) -> None:
    async with app.database.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))


@pytest.fixture
async def app(backend_settings: Settings) -> AsyncIterator[Venta]:
    """A started application on the backend under test, with empty tables and indexes."""
    application = Venta(backend_settings, load_entry_points=False)
    if not backend_settings.is_sqlite:
        await application.database.start()
        await _truncate(application)
    async with application:
        yield application
        await application.geo.clear()
    if application.settings.nats_url:
        from tests.events.helpers import delete_streams

        await delete_streams(application.settings)
