"""Alembic environment of venta: migrations run on the async engine (SQLite or PostgreSQL).

``venta_core.store.migrate`` builds the Alembic config in code and passes the database URL (and,
for autogenerate, a ``process_revision_directives`` hook) through ``config.attributes``. Run by
the plain ``alembic`` command instead, the URL comes from ``sqlalchemy.url`` or the settings.

Plugins' migrations run here too (their version locations beside venta's). Autogenerate compares
venta's tables, leaving out the plugins' (``exclude_tables``), or, for a plugin's revision, that
plugin's tables alone (``target_metadata`` and ``include_object`` given by ``migrate``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from venta_core.settings import load_settings
from venta_core.store.migrate import connect
from venta_core.store.search import include_object
from venta_core.store.tables import metadata

config = context.config

#: PostgreSQL advisory lock held while migrating, so replicas that all migrate at start run one
#: after the other (the later ones then find the database at head and do nothing).
LOCK_KEY = 0x76656E7461  # "venta"


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else load_settings().database_url


def _include_core(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """venta's own objects: not the unmodelled search objects, not plugins' tables."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    if table in config.attributes.get("exclude_tables", ()):
        return False
    return include_object(obj, name, type_, reflected, compare_to)


def _options(url: str) -> dict[str, Any]:
    return {
        "target_metadata": config.attributes.get("target_metadata", metadata),
        "include_object": config.attributes.get("include_object", _include_core),
        "compare_type": True,
        "compare_server_default": True,
        # SQLite alters little in place: batch mode rebuilds the table instead.
        "render_as_batch": url.startswith("sqlite"),
        "process_revision_directives": config.attributes.get("process_revision_directives"),
    }


def _run(connection: Connection, url: str) -> None:
    context.configure(connection=connection, **_options(url))
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
        context.run_migrations()


async def _run_online(url: str) -> None:
    async with connect(url) as connection:
        await connection.run_sync(_run, url)


def _run_offline(url: str) -> None:
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url)
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline(_url())
else:
    asyncio.run(_run_online(_url()))
