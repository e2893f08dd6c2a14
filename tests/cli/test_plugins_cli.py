"""``venta plugins list``: built-ins and installed plugins, their versions and hooks."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from venta_cli.plugins import plugins_app

root = typer.Typer()
root.add_typer(plugins_app, name="plugins")

INSTALLED = {ep.name: ep for ep in entry_points(group="venta")}
#: The plugins of this repository and the hooks each implements.
REPOSITORY_PLUGINS = {
    "clerk": ("venta-clerk", ["venta_http_routers", "venta_identity_provider"]),
    "revenuecat": ("venta-revenuecat", ["venta_http_routers"]),
    "favourites": (
        "venta-favourites",
        ["venta_cli_commands", "venta_event_handlers", "venta_http_routers"],
    ),
}


@pytest.fixture(autouse=True)
def _no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> Result:
    return CliRunner().invoke(root, ["plugins", "list", *args])


def rows(*args: str) -> dict[str, dict[str, Any]]:
    result = run("--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_builtins_are_listed_with_their_hooks() -> None:
    listed = rows()

    identity = listed["venta_core.builtins.identity"]
    uploads = listed["venta_core.builtins.uploads"]
    assert identity["source"] == uploads["source"] == "built-in"
    assert identity["hooks"] == ["venta_identity_provider"]
    assert uploads["hooks"] == ["venta_event_handlers", "venta_http_routers", "venta_upload_store"]
    assert identity["version"] and not identity["blocked"]


@pytest.mark.parametrize("name", sorted(REPOSITORY_PLUGINS))
def test_installed_plugins_show_package_version_and_hooks(name: str) -> None:
    if name not in INSTALLED:
        pytest.skip(f"{name} is not installed (pip install -e the repository's plugins)")
    package, hooks = REPOSITORY_PLUGINS[name]

    row = rows()[name]

    assert row["source"] == f"entry point ({package})"
    assert row["version"] == INSTALLED[name].dist.version  # type: ignore[union-attr]
    assert row["hooks"] == hooks


def test_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    result = run()

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    uploads = next(line for line in lines if "venta_core.builtins.uploads" in line)
    assert "built-in" in uploads and "venta_upload_store" in uploads


def test_a_blocked_plugin_is_shown_as_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = ["venta_core.builtins.uploads", *(n for n in ("clerk",) if n in INSTALLED)]
    monkeypatch.setenv("VENTA_PLUGINS_BLOCKED", json.dumps(blocked))

    listed = rows()

    assert listed["venta_core.builtins.uploads"]["blocked"] is True
    assert listed["venta_core.builtins.uploads"]["hooks"] == []
    if "clerk" in INSTALLED:
        assert listed["clerk"]["blocked"] is True
        assert listed["clerk"]["source"] == "blocked (entry point of venta-clerk)"
        assert listed["clerk"]["version"] == INSTALLED["clerk"].dist.version  # type: ignore[union-attr]


def test_invalid_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_HTTP__PORT", "0")

    result = run()

    assert result.exit_code == 2
    assert result.stderr.startswith("error: VENTA_HTTP__PORT")
