"""Scratch databases and migration directories for migration tests.

The suite-wide ``postgres_url`` database is kept at head for the other tests, so migration tests
(which downgrade to base) get a database of their own, emptied before each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import text

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.settings import Settings
from venta_core.store import migrate

__all__ = [
    "child_env",
    "empty_postgres_schema",
    "scratch_postgres_database",
    "settings_for",
    "sqlite_url",
    "use_migrations_copy",
]


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url)


def sqlite_url(directory: Path) -> str:
    """A SQLite file in a directory that does not exist yet (migrations must create it)."""
    return f"sqlite:///{directory / 'not-yet' / 'venta.db'}"


async def _execute(url: str, *statements: str) -> None:
    async_url = make_url(url).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(async_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def scratch_postgres_database(purpose: str) -> Iterator[str]:
    """A new, empty database on the real PostgreSQL server (skips or fails without one)."""
    base = real_service_url("database")
    name = f"venta_{RUN_PREFIX}_{purpose}"
    asyncio.run(_execute(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_postgres_schema(url: str) -> None:
    asyncio.run(_execute(url, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public"))


def use_migrations_copy(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``migrate`` at a copy of the shipped migrations, so new revisions land there."""
    copy = directory / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    return copy


def child_env(**variables: str) -> dict[str, str]:
    """Environment of a child Python process: this checkout's sources importable, no VENTA_*
    variables but ``variables``."""
    src = str(Path(migrate.__file__).parents[2])
    env = {key: value for key, value in os.environ.items() if not key.startswith("VENTA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return {**env, **variables}
