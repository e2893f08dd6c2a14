"""Writing migrations, in a copy of the shipped migrations directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.store.scratch import use_migrations_copy
from venta_core.settings import Settings
from venta_core.store import migrate
from venta_core.store.migrate import MigrationError


@pytest.fixture
def migrations_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_migrations_copy(tmp_path, monkeypatch)


def _drop_pending_index(settings: Settings) -> None:
    async def run() -> None:
        async with migrate.connect(settings.database_url) as connection:
            await connection.execute(sa.text("DROP INDEX ix_outbox_pending"))
            await connection.commit()

    asyncio.run(run())


def test_empty_revision_is_numbered_after_the_last(
    migrations_copy: Path, sqlite_settings: Settings
) -> None:
    path = Path(migrate.revision(sqlite_settings, "add things", autogenerate=False))

    assert path == migrations_copy / "versions" / "0007_add_things.py"
    assert migrate.heads() == ["0007"]
    text = path.read_text()
    assert 'down_revision: str | Sequence[str] | None = "0006"' in text


def test_autogenerate_writes_the_difference(
    migrations_copy: Path, sqlite_settings: Settings
) -> None:
    migrate.upgrade(sqlite_settings)
    _drop_pending_index(sqlite_settings)

    path = Path(migrate.revision(sqlite_settings, "restore index"))

    text = path.read_text()
    assert path.name == "0007_restore_index.py"
    assert "ix_outbox_pending" in text
    assert "batch_alter_table" in text  # SQLite: render_as_batch


def test_autogenerate_refuses_an_empty_migration(
    migrations_copy: Path, sqlite_settings: Settings
) -> None:
    migrate.upgrade(sqlite_settings)

    with pytest.raises(MigrationError, match="no schema changes detected"):
        migrate.revision(sqlite_settings, "nothing")

    assert not list((migrations_copy / "versions").glob("0007*"))
