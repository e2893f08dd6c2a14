"""``venta search reindex``: rebuilds the index from the database, with progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from venta_cli.search import search_app
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.testing import embedded_settings

root = typer.Typer()
root.add_typer(search_app, name="search")


async def _seed(db: Path, count: int) -> None:
    async with Venta(embedded_settings(db), load_entry_points=False) as app:
        owner = Actor.for_user(await app.users.ensure_user("owner"))
        for n in range(count):
            await app.vendors.create_vendor(owner, VendorCreate(name=f"Kiosk {n}"))


async def _indexed(db: Path) -> int:
    app = Venta(embedded_settings(db), load_entry_points=False)
    await app.database.start()
    try:
        return await app.search_index.count()
    finally:
        await app.database.stop()


@pytest.mark.parametrize("clear", [False, True])
def test_reindex_indexes_every_vendor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clear: bool
) -> None:
    db = tmp_path / "venta.db"
    asyncio.run(_seed(db, 7))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENTA_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("VENTA_SEARCH__REINDEX_BATCH", "3")

    args = ["search", "reindex", *(["--clear"] if clear else [])]
    result = CliRunner().invoke(root, args)

    assert result.exit_code == 0, result.output
    assert "indexed 7 vendors in" in result.stdout
    assert asyncio.run(_indexed(db)) == 7


def test_reindex_fails_with_one_line_on_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_SEARCH__REINDEX_BATCH", "0")

    result = CliRunner().invoke(root, ["search", "reindex"])

    assert result.exit_code == 2
    assert "VENTA_SEARCH__REINDEX_BATCH" in result.output
