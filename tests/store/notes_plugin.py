"""A plugin with tables of its own (a note per vendor), for the migration tests: its branch
``notes`` depends on venta's 0005, so downgrading venta below 0005 takes it along."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from venta_core import PluginMigrations, hookimpl
from venta_core.settings import Settings

SOURCE = Path(__file__).with_name("notes_migrations")

metadata = sa.MetaData()
vendor_notes = sa.Table(
    "vendor_notes",
    metadata,
    sa.Column(
        "vendor_id",
        sa.String(36),
        sa.ForeignKey("vendors.id", ondelete="CASCADE", name="fk_vendor_notes_vendor_id"),
        primary_key=True,
    ),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("pinned", sa.Boolean(), nullable=False, server_default="0"),
)


def copy_of_migrations(directory: Path) -> Path:
    """The revisions in a directory of the test's own (revision tests write into it)."""
    copy = directory / "notes_migrations"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


class NotesPlugin:
    def __init__(self, directory: Path, with_metadata: bool = True) -> None:
        self.migrations = PluginMigrations("notes", directory, metadata if with_metadata else None)

    @hookimpl
    def venta_migrations(self, settings: Settings) -> PluginMigrations:
        return self.migrations
