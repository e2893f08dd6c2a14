"""Plugins' own tables: a plugin's migrations are an Alembic branch beside venta's, upgraded,
shown, checked and rolled back with it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.store.notes_plugin import NotesPlugin, copy_of_migrations
from venta_core import PluginMigrations, hookimpl
from venta_core.plugins import create_plugin_manager, schema_migrations
from venta_core.settings import Settings
from venta_core.store import migrate
from venta_core.store.engine import Database
from venta_core.store.migrate import MigrationError, SchemaNotCurrentError


@pytest.fixture
def notes(tmp_path: Path) -> PluginMigrations:
    return NotesPlugin(copy_of_migrations(tmp_path)).migrations


def _tables(settings: Settings) -> set[str]:
    async def run() -> set[str]:
        async with migrate.connect(settings.database_url) as connection:
            return await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))

    return asyncio.run(run())


def _columns(settings: Settings, table: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return {column["name"] for column in sa.inspect(connection).get_columns(table)}

    async def run() -> set[str]:
        async with migrate.connect(settings.database_url) as connection:
            return await connection.run_sync(read)

    return asyncio.run(run())


def test_heads_are_venta_first_then_each_plugin(notes: PluginMigrations) -> None:
    assert migrate.heads([notes]) == ["0006", "notes_0002"]
    assert migrate.newest([notes]) == {"venta": "0006", "notes": "notes_0002"}


def test_upgrade_runs_venta_and_the_plugin_branch(
    db_settings: Settings, notes: PluginMigrations
) -> None:
    assert migrate.state(db_settings, [notes]) == {"venta": None, "notes": None}

    migrate.upgrade(db_settings, plugins=[notes])

    assert migrate.state(db_settings, [notes]) == {"venta": "0006", "notes": "notes_0002"}
    assert migrate.current(db_settings, [notes]) == "0006"
    assert {"vendors", "vendor_notes"} <= _tables(db_settings)
    assert "pinned" in _columns(db_settings, "vendor_notes")
    migrate.upgrade(db_settings, plugins=[notes])  # idempotent
    assert migrate.state(db_settings, [notes]) == {"venta": "0006", "notes": "notes_0002"}


def test_a_plugin_branch_rolls_back_alone(db_settings: Settings, notes: PluginMigrations) -> None:
    migrate.upgrade(db_settings, plugins=[notes])

    migrate.downgrade(db_settings, "notes@-1", [notes])
    assert migrate.state(db_settings, [notes]) == {"venta": "0006", "notes": "notes_0001"}
    assert "pinned" not in _columns(db_settings, "vendor_notes")

    migrate.downgrade(db_settings, "notes@base", [notes])
    assert migrate.state(db_settings, [notes]) == {"venta": "0006", "notes": None}
    assert "vendor_notes" not in _tables(db_settings)
    assert "vendors" in _tables(db_settings)


def test_downgrading_venta_below_a_dependency_takes_the_plugin_first(
    db_settings: Settings, notes: PluginMigrations
) -> None:
    """notes_0001 depends on 0005: stepping venta back from 0005 rolls the notes back first,
    so their foreign key never points at a changed table; upgrading brings both back."""
    migrate.upgrade(db_settings, plugins=[notes])
    migrate.downgrade(db_settings, "-1", [notes])  # 0006 -> 0005: the notes stay
    assert migrate.state(db_settings, [notes]) == {"venta": "0005", "notes": "notes_0002"}

    migrate.downgrade(db_settings, "-1", [notes])

    assert migrate.state(db_settings, [notes]) == {"venta": "0004", "notes": None}
    assert "vendor_notes" not in _tables(db_settings)
    migrate.upgrade(db_settings, plugins=[notes])
    assert migrate.state(db_settings, [notes]) == {"venta": "0006", "notes": "notes_0002"}
    migrate.downgrade(db_settings, "base", [notes])
    assert migrate.state(db_settings, [notes]) == {"venta": None, "notes": None}
    assert _tables(db_settings) - {"alembic_version"} == set()


async def test_the_start_up_check_wants_every_branch_at_its_newest(
    db_settings: Settings, notes: PluginMigrations
) -> None:
    await migrate.upgrade_async(db_settings)  # venta's schema only
    database = Database(db_settings)
    try:
        with pytest.raises(SchemaNotCurrentError) as raised:
            await migrate.ensure_current(database, plugins=[notes])
        assert str(raised.value) == (
            "database is at 0006, newest is 0006, notes_0002: run `venta db migrate`"
        )
        assert not await migrate.is_up_to_date(db_settings, [notes])

        await migrate.upgrade_async(db_settings, plugins=[notes])
        await migrate.ensure_current(database, plugins=[notes])
        assert await migrate.is_up_to_date(db_settings, [notes])
        # The plugin uninstalled or blocked: the version table holds its head, a revision this
        # venta does not know, so it cannot vouch for the schema and says what to do.
        with pytest.raises(SchemaNotCurrentError) as unknown:
            await migrate.ensure_current(database)
        assert str(unknown.value).startswith(
            "database is at 0006, notes_0002, which this venta does not know"
        )
        assert "venta db downgrade NAME@base" in str(unknown.value.hint)
    finally:
        await database.stop()


def test_a_revision_of_an_unloaded_plugin_is_named_in_one_line(
    sqlite_settings: Settings, notes: PluginMigrations
) -> None:
    migrate.upgrade(sqlite_settings, plugins=[notes])

    with pytest.raises(MigrationError) as raised:
        migrate.state(sqlite_settings)

    assert str(raised.value) == (
        "the database is at notes_0002, which neither venta nor a loaded plugin ships "
        "(a newer venta, or a plugin uninstalled or blocked)"
    )


def test_revisions_start_and_continue_a_plugin_branch(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    empty = tmp_path / "new_plugin"
    empty.mkdir()
    plugin = PluginMigrations("pins", empty)

    first = Path(migrate.revision(sqlite_settings, "pins", False, "pins", [plugin]))
    second = Path(migrate.revision(sqlite_settings, "more pins", False, "pins", [plugin]))

    assert (first.parent, first.name) == (empty, "pins_0001_pins.py")
    text = first.read_text()
    assert "branch_labels: str | Sequence[str] | None = ('pins',)" in text.replace('"', "'")
    assert "depends_on: str | Sequence[str] | None = '0006'" in text.replace('"', "'")
    assert second.name == "pins_0002_more_pins.py"
    assert "down_revision: str | Sequence[str] | None = 'pins_0001'" in second.read_text().replace(
        '"', "'"
    )
    migrate.upgrade(sqlite_settings, plugins=[plugin])
    assert migrate.state(sqlite_settings, [plugin]) == {"venta": "0006", "pins": "pins_0002"}


def test_autogenerate_compares_the_plugin_tables_only(
    sqlite_settings: Settings, notes: PluginMigrations
) -> None:
    (notes.directory / "notes_0002_pinned.py").unlink()
    migrate.upgrade(sqlite_settings, plugins=[notes])

    path = Path(migrate.revision(sqlite_settings, "pin them", True, "notes", [notes]))

    text = path.read_text()
    assert path.name == "notes_0002_pin_them.py" and path.parent == notes.directory
    assert "pinned" in text and "add_column" in text
    assert "users" not in text and "outbox" not in text  # venta's tables are not compared
    migrate.upgrade(sqlite_settings, plugins=[notes])
    with pytest.raises(MigrationError, match="no schema changes detected"):  # venta's tables
        migrate.revision(sqlite_settings, "nothing", True, None, [notes])


def test_an_unknown_plugin_is_refused_in_one_line(
    sqlite_settings: Settings, notes: PluginMigrations
) -> None:
    with pytest.raises(MigrationError) as raised:
        migrate.revision(sqlite_settings, "x", False, "nope", [notes])

    assert str(raised.value) == "no plugin named 'nope' has migrations (those that have: notes)"


def test_plugin_migrations_come_from_the_hook(tmp_path: Path, notes: PluginMigrations) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'v.db'}")

    class Twin:
        @hookimpl
        def venta_migrations(self, settings: Settings) -> Any:
            return PluginMigrations("notes", tmp_path)

    def pm(*plugins: object) -> pluggy.PluginManager:
        return create_plugin_manager(settings, extra=plugins, load_entry_points=False)

    assert migrate.plugin_migrations(pm(), settings=settings) == []
    assert migrate.plugin_migrations(pm(NotesPlugin(notes.directory)), settings=settings) == [notes]
    twice = [pm(NotesPlugin(notes.directory)), pm(NotesPlugin(notes.directory))]
    assert migrate.plugin_migrations(*twice, settings=settings) == [notes]  # counted once
    with pytest.raises(MigrationError, match="two plugins have migrations named 'notes'"):
        migrate.plugin_migrations(pm(NotesPlugin(notes.directory), Twin()), settings=settings)
    installed = schema_migrations(settings, pm(NotesPlugin(notes.directory)))
    assert installed[0] == notes
    assert {m.name for m in installed[1:]} == {
        m.name
        for m in migrate.plugin_migrations(create_plugin_manager(settings), settings=settings)
    }
    with pytest.raises(ValueError, match="migration branch 'Notes!'"):
        PluginMigrations("Notes!", tmp_path)
    with pytest.raises(ValueError, match="not 'venta'"):
        PluginMigrations("venta", tmp_path)
