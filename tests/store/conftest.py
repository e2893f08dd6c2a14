from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.scratch import (
    empty_postgres_schema,
    scratch_postgres_database,
    settings_for,
    sqlite_url,
)
from venta_core.settings import Settings


@pytest.fixture(scope="session")
def migrations_postgres_url() -> Iterator[str]:
    with scratch_postgres_database("migrations") as url:
        yield url


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return settings_for(sqlite_url(tmp_path))


@pytest.fixture
def postgres_settings(migrations_postgres_url: str) -> Settings:
    empty_postgres_schema(migrations_postgres_url)
    return settings_for(migrations_postgres_url)


@pytest.fixture(params=["sqlite", "postgres"])
def db_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings of an empty database: a SQLite file, then a PostgreSQL database."""
    return request.getfixturevalue(f"{request.param}_settings")  # type: ignore[no-any-return]
