"""``venta plugins list``: built-ins and installed plugins, their versions and hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from tests.cli.process import closed_port
from venta_cli.plugins import plugins_app
from venta_core.providers import PORT_HOOKS

root = typer.Typer()
root.add_typer(plugins_app, name="plugins")

INSTALLED = {ep.name: ep for ep in entry_points(group="venta")}
#: The plugins of this repository and the hooks each implements.
REPOSITORY_PLUGINS = {
    "clerk": ("venta-clerk", ["venta_http_routers", "venta_identity_provider"]),
    "revenuecat": ("venta-revenuecat", ["venta_http_routers"]),
    "favourites": (
        "venta-favourites",
        [
            "venta_cli_commands",
            "venta_event_handlers",
            "venta_http_routers",
            "venta_migrations",
            "venta_realtime_handlers",
            "venta_vendor_presence",
        ],
    ),
    "counting_geo": ("venta-counting-geo-index", ["venta_geo_index"]),
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


# -- which plugin provides each port, from a real process -----------------------------------------

VENTA = [sys.executable, "-m", "venta_cli.main"]


def venta_process(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    env.update(COLUMNS="200", **variables)
    return subprocess.run(
        [*VENTA, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def provided_by(stdout: str) -> dict[str, str]:
    """Port hook -> plugin, read from the rows of the ports table (port, hook, provided by)."""
    table: dict[str, str] = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]  # the table's column rule
        if len(cells) == 5 and cells[2] in PORT_HOOKS:
            table[cells[2]] = cells[3]
    return table


def test_the_ports_table_names_the_builtin_answering_each_port(tmp_path: Path) -> None:
    done = venta_process(tmp_path, "plugins", "list")

    assert done.returncode == 0, done.stderr
    ports = provided_by(done.stdout)
    assert set(ports) == set(PORT_HOOKS)
    assert (
        ports
        == {
            "venta_identity_provider": "venta_core.builtins.identity",
            "venta_geo_index": "venta_core.builtins.memory",
            "venta_key_value_store": "venta_core.builtins.memory",
            "venta_presence_store": "venta_core.builtins.memory",
            "venta_event_bus": "venta_core.builtins.memory",
            "venta_event_stream": "venta_core.builtins.memory",
            "venta_search_index": "venta_core.builtins.search",
            "venta_upload_store": "venta_core.builtins.uploads",
        }
        | _installed_port_plugins()
    )
    assert not (tmp_path / "venta.db").exists()  # listing opens no database


def test_urls_make_the_redis_and_nats_builtins_answer(tmp_path: Path) -> None:
    """Nothing connects: the listing builds the ports without starting them."""
    done = venta_process(
        tmp_path,
        "plugins",
        "list",
        VENTA_REDIS_URL="redis://127.0.0.1:1/0",
        VENTA_NATS_URL="nats://127.0.0.1:1",
    )

    assert done.returncode == 0, done.stderr
    ports = provided_by(done.stdout)
    builtin = {
        "venta_key_value_store": "venta_core.builtins.redis",
        "venta_presence_store": "venta_core.builtins.redis",
        "venta_event_bus": "venta_core.builtins.nats",
        "venta_event_stream": "venta_core.builtins.nats",
    }
    assert {hook: ports[hook] for hook in builtin} == builtin
    geo = _installed_port_plugins().get("venta_geo_index", "venta_core.builtins.redis")
    assert ports["venta_geo_index"] == geo


def test_json_says_which_ports_each_plugin_provides() -> None:
    listed = rows()

    assert listed["venta_core.builtins.identity"]["provides"] == ["venta_identity_provider"]
    assert listed["venta_core.builtins.redis"]["provides"] == []  # no VENTA_REDIS_URL
    assert "venta_event_stream" in listed["venta_core.builtins.memory"]["provides"]


def test_a_blocked_port_builtin_without_replacement_is_one_line(tmp_path: Path) -> None:
    blocked = {"VENTA_PLUGINS_BLOCKED": "venta_core.builtins.memory"}

    listing = venta_process(tmp_path, "plugins", "list", **blocked)
    serving = venta_process(tmp_path, "serve", "all", "--port", str(closed_port()), **blocked)

    reason = "no plugin provides the"
    assert listing.returncode == 2
    assert "venta_core.builtins.memory" in listing.stdout  # what is loaded is still shown
    assert listing.stderr.splitlines()[-1].startswith(f"error: {reason}")
    assert serving.returncode == 2
    lines = serving.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {reason}"), serving.stderr
    assert "VENTA_PLUGINS_BLOCKED blocks venta_core.builtins.memory" in lines[0]


def _installed_port_plugins() -> dict[str, str]:
    """Ports that installed example plugins of this repository answer whatever the settings."""
    return {"venta_geo_index": "counting_geo"} if "counting_geo" in INSTALLED else {}
