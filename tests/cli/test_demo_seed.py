"""`venta demo seed`: vendors with positions, and tokens that work."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from venta_cli.main import cli
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import Settings


def test_seed_creates_vendors_with_positions_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "seed", "--city", "paris", "--vendors", "3"])
    assert result.exit_code == 0, result.output
    assert "Created 3 vendors around paris" in result.output
    owner_token = result.output.split("owner: ")[1].split()[0]
    identity = asyncio.run(DevTokenProvider(Settings(_env_file=None).auth).verify(owner_token))
    assert identity.subject == "demo-vendor-owner"
    with sqlite3.connect(tmp_path / "venta.db") as db:
        rows = db.execute("SELECT lat, long FROM vendors").fetchall()
    assert len(rows) == 3
    assert all(48.8 < lat < 48.9 and 2.29 < long < 2.41 for lat, long in rows)


def test_seed_refuses_an_unknown_city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "seed", "--city", "atlantis"])
    assert result.exit_code == 2
    assert "unknown city" in result.output
