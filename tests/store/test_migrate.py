"""Migrations on a SQLite file and on PostgreSQL: apply, inspect, roll back, no drift."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url

from tests.store.scratch import child_env
from venta_core.settings import Settings
from venta_core.store import migrate
from venta_core.store.migrate import DatabaseUnreachableError, MigrationError
from venta_core.store.search import include_object
from venta_core.store.tables import metadata

pytestmark = pytest.mark.integration

TABLES = {
    "users",
    "vendors",
    "user_subscriptions",
    "integrations",
    "outbox",
    "processed_webhooks",
    "deleted_identities",
}


def _inspect(settings: Settings, read: Any) -> Any:
    async def run() -> Any:
        async with migrate.connect(settings.database_url) as connection:
            return await connection.run_sync(read)

    return asyncio.run(run())


def _table_names(connection: Connection) -> set[str]:
    """Tables of tables.py (the search index's tables differ per database: see 0002)."""
    names = set(sa.inspect(connection).get_table_names())
    return {n for n in names if not n.startswith("search_vendors")}


def _search_tables(connection: Connection) -> set[str]:
    return {n for n in sa.inspect(connection).get_table_names() if n.startswith("search_")}


def _drop_pending_index(connection: Connection) -> None:
    connection.execute(sa.text("DROP INDEX ix_outbox_pending"))
    connection.commit()


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": include_object,  # as env.py: the search tables are unmodelled
        },
    )
    return list(compare_metadata(context, metadata))


def test_heads_is_the_shipped_newest_revision() -> None:
    assert migrate.heads() == ["0006"]
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()


def test_upgrade_creates_the_schema(db_settings: Settings) -> None:
    assert migrate.current(db_settings) is None

    migrate.upgrade(db_settings)

    assert migrate.current(db_settings) == "0006"
    assert _inspect(db_settings, _table_names) == TABLES | {"alembic_version"}
    assert "search_vendors" in _inspect(db_settings, _search_tables)


def test_migrated_schema_matches_tables_py(db_settings: Settings) -> None:
    migrate.upgrade(db_settings)

    assert _inspect(db_settings, _schema_diff) == []


def test_drift_is_detected(db_settings: Settings) -> None:
    """The no-diff test above means something: a missing index shows up."""
    migrate.upgrade(db_settings)
    _inspect(db_settings, _drop_pending_index)

    diff = _inspect(db_settings, _schema_diff)

    assert [(op[0], op[1].name) for op in diff] == [("add_index", "ix_outbox_pending")]


def test_constraints_follow_the_naming_convention(db_settings: Settings) -> None:
    migrate.upgrade(db_settings)

    def read(connection: Connection) -> dict[str, Any]:
        inspector = sa.inspect(connection)
        return {
            "fks": {
                (fk["name"], fk["referred_table"], fk["options"].get("ondelete"))
                for table in TABLES
                for fk in inspector.get_foreign_keys(table)
            },
            "uniques": {
                uq["name"] for table in TABLES for uq in inspector.get_unique_constraints(table)
            },
            "indexes": {
                ix["name"]
                for table in TABLES
                for ix in inspector.get_indexes(table)
                if not ix.get("duplicates_constraint")  # PostgreSQL: a unique constraint's index
            },
        }

    found = _inspect(db_settings, read)

    assert found["fks"] == {
        ("fk_vendors_owner_id_users", "users", "CASCADE"),
        ("fk_user_subscriptions_user_id_users", "users", "CASCADE"),
        ("fk_integrations_user_id_users", "users", "CASCADE"),
    }
    assert found["uniques"] == {
        "uq_users_external_id",
        "uq_integrations_provider_provider_id",
        "uq_outbox_event_id",
    }
    assert found["indexes"] == {
        "ix_vendors_owner_id",
        "ix_integrations_user_id",
        "ix_outbox_pending",
    }


def test_upgrade_is_idempotent(db_settings: Settings) -> None:
    migrate.upgrade(db_settings)
    migrate.upgrade(db_settings)

    assert migrate.current(db_settings) == "0006"


def test_downgrade_drops_the_schema(db_settings: Settings) -> None:
    migrate.upgrade(db_settings)

    migrate.downgrade(db_settings, "base")

    assert migrate.current(db_settings) is None
    assert _inspect(db_settings, _table_names) == {"alembic_version"}
    assert _inspect(db_settings, _search_tables) == set()


def test_downgrade_one_step_drops_the_search_index(db_settings: Settings) -> None:
    migrate.upgrade(db_settings)

    migrate.downgrade(db_settings, "0001")

    assert migrate.current(db_settings) == "0001"
    assert _inspect(db_settings, _table_names) == TABLES - {"deleted_identities"} | {
        "alembic_version"
    }
    assert _inspect(db_settings, _search_tables) == set()


async def test_async_upgrade_and_readiness(db_settings: Settings) -> None:
    assert await migrate.is_up_to_date(db_settings) is False

    await migrate.upgrade_async(db_settings)

    assert await migrate.is_up_to_date(db_settings) is True


def test_current_does_not_create_a_sqlite_file(sqlite_settings: Settings) -> None:
    path = make_url(sqlite_settings.database_url).database
    assert path is not None

    assert migrate.current(sqlite_settings) is None
    assert not Path(path).exists()


def test_unknown_revision_is_a_one_line_error(sqlite_settings: Settings) -> None:
    with pytest.raises(MigrationError) as raised:
        migrate.upgrade(sqlite_settings, "nope")

    assert "nope" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unreachable_database_error_hides_the_password() -> None:
    settings = Settings(
        _env_file=None, database_url="postgresql://postgres:hunter2@127.0.0.1:1/venta"
    )

    with pytest.raises(DatabaseUnreachableError) as raised:
        migrate.upgrade(settings)

    message = str(raised.value)
    assert message == (
        "cannot connect to PostgreSQL at postgresql+asyncpg://postgres:***@127.0.0.1:1/venta "
        "(127.0.0.1:1): connection refused"
    )
    assert "hunter2" not in message
    assert "\n" not in message


def test_migrations_never_log_the_password(
    migrations_postgres_url: str,
    postgres_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = make_url(migrations_postgres_url)
    password = url.password or "not-checked-by-trust-auth"
    with_password = url.set(password=password).render_as_string(hide_password=False)
    settings = Settings(_env_file=None, database_url=with_password)
    caplog.set_level(logging.DEBUG)

    migrate.upgrade(settings)
    migrate.downgrade(settings, "base")

    out, err = capfd.readouterr()
    assert password not in caplog.text + out + err


async def test_concurrent_upgrades_in_one_process(db_settings: Settings) -> None:
    await asyncio.wait_for(
        asyncio.gather(*(migrate.upgrade_async(db_settings) for _ in range(3))), timeout=60
    )

    assert await migrate.is_up_to_date(db_settings)


def test_concurrent_upgrades_in_several_processes(postgres_settings: Settings) -> None:
    """Replicas migrating at the same start: one applies the revisions, the others find head."""
    script = (
        "import sys\n"
        "from venta_core.settings import Settings\n"
        "from venta_core.store.migrate import upgrade\n"
        "upgrade(Settings(_env_file=None, database_url=sys.argv[1]))\n"
    )
    command = [sys.executable, "-c", script, postgres_settings.database_url]
    runs = [subprocess.Popen(command, env=child_env(), stderr=subprocess.PIPE) for _ in range(3)]
    try:
        errors = [run.communicate(timeout=90)[1].decode() for run in runs]
    finally:
        for run in runs:
            run.kill()

    assert [run.returncode for run in runs] == [0, 0, 0], errors
    assert migrate.current(postgres_settings) == "0006"


def _insert_positioned_vendor(connection: Connection) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    connection.execute(
        sa.text(
            "INSERT INTO users (id, external_id, created_at, updated_at) "
            "VALUES ('u1', 'owner', :at, :at)"
        ),
        {"at": at},
    )
    connection.execute(
        sa.text(
            "INSERT INTO vendors (id, owner_id, name, open, lat, long, created_at, updated_at) "
            "VALUES ('v1', 'u1', 'Old Stall', false, 52.5, 13.4, :at, :at)"
        ),
        {"at": at},
    )
    connection.commit()


def _vendor_columns(connection: Connection) -> dict[str, Any]:
    names = [c["name"] for c in sa.inspect(connection).get_columns("vendors")]
    row = connection.execute(sa.text("SELECT * FROM vendors")).one()
    return dict(zip(names, row, strict=True))


def test_migration_0005_starts_existing_vendors_not_live_and_rolls_back(
    db_settings: Settings,
) -> None:
    migrate.upgrade(db_settings, "0004")
    _inspect(db_settings, _insert_positioned_vendor)

    migrate.upgrade(db_settings, "0005")

    vendor = _inspect(db_settings, _vendor_columns)
    assert (vendor["lat"], vendor["long"], bool(vendor["live"])) == (52.5, 13.4, False)
    migrate.downgrade(db_settings, "0004")
    assert "live" not in _inspect(db_settings, _vendor_columns)


def _insert_outbox_row(connection: Connection) -> None:
    connection.execute(
        sa.text(
            "INSERT INTO outbox (event_id, type, payload, created_at) "
            "VALUES ('evt-1', 'vendor.created', '{}', :at)"
        ),
        {"at": datetime(2026, 1, 2, tzinfo=UTC)},
    )
    connection.commit()


def _outbox_rows(connection: Connection) -> list[dict[str, Any]]:
    names = [c["name"] for c in sa.inspect(connection).get_columns("outbox")]
    rows = connection.execute(sa.text("SELECT * FROM outbox ORDER BY seq")).all()
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_migration_0006_adds_the_outbox_trace_context_and_rolls_back(
    db_settings: Settings,
) -> None:
    migrate.upgrade(db_settings, "0005")
    _inspect(db_settings, _insert_outbox_row)

    migrate.upgrade(db_settings, "0006")

    [row] = _inspect(db_settings, _outbox_rows)
    assert (row["event_id"], row["traceparent"], row["tracestate"]) == ("evt-1", None, None)
    migrate.downgrade(db_settings, "0005")
    [row] = _inspect(db_settings, _outbox_rows)
    assert row["event_id"] == "evt-1"
    assert "traceparent" not in row and "tracestate" not in row
    migrate.upgrade(db_settings)
    assert [r["event_id"] for r in _inspect(db_settings, _outbox_rows)] == ["evt-1"]
