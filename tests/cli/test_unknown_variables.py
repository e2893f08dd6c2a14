"""A ``VENTA_*`` variable that is no setting is reported at start with the closest real name;
the variables of plugins and of the test suite are not."""

from __future__ import annotations

import contextlib
import importlib
import json
from importlib import metadata
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from tests.cli.process import closed_port, venta
from venta_cli.environment import foreign_prefixes

TYPO = (
    "warning: VENTA_HTTP__PROT is not a venta setting and is ignored; "
    "did you mean VENTA_HTTP__PORT?\n"
)


def test_a_misspelt_setting_is_named_with_the_real_one(tmp_path: Path) -> None:
    result = venta("config", "show", cwd=tmp_path, VENTA_HTTP__PROT="9000")

    assert result.returncode == 0
    assert result.stderr == TYPO
    assert "VENTA_HTTP__PORT=8000\n" in result.stdout


def test_a_misspelt_setting_in_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VENTA_HTTP__PORT=9000\nVENTA_REALTIME__PROT=9001\n")

    result = venta("config", "show", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stderr == (
        "warning: VENTA_REALTIME__PROT is not a venta setting and is ignored; did you mean "
        "VENTA_REALTIME__PORT?\n"
    )


def test_a_name_like_no_setting(tmp_path: Path) -> None:
    result = venta("token", "issue", "--sub", "alice", cwd=tmp_path, VENTA_NONSENSE="1")

    assert result.returncode == 0
    assert result.stderr == (
        "warning: VENTA_NONSENSE is not a venta setting and is ignored "
        "(`venta config show` lists them)\n"
    )
    assert result.stdout.count(".") == 2  # the token alone, still on stdout


def test_plugin_and_test_variables_are_not_warned_about(tmp_path: Path) -> None:
    others = {
        "VENTA_TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
        "VENTA_CLERK_AUDIENCE": "venta",
        "VENTA_REVENUECAT_ACCEPT_SANDBOX": "true",
        "VENTA_ALGOLIA_INDEX_NAME": "vendors",
        "VENTA_FAVOURITES_NOTIFY": "false",
        "VENTA_HTTP": '{"port": 9000}',  # a whole group as JSON
        "VENTA_SERVICES__VENDOR__ADDRESS": "vendor:5005",
    }

    result = venta("config", "show", cwd=tmp_path, **others)

    assert (result.returncode, result.stderr) == (0, "")


def test_the_old_log_switch_is_deprecated_but_works(tmp_path: Path) -> None:
    result = venta("config", "show", cwd=tmp_path, VENTA_LOG__JSON_FORMAT="false")

    assert result.returncode == 0
    assert result.stderr == (
        "warning: VENTA_LOG__JSON_FORMAT is deprecated; use VENTA_LOG__FORMAT=json (or text, "
        "or auto)\n"
    )
    assert "VENTA_LOG__FORMAT=text\n" in result.stdout


def test_a_serving_process_logs_the_warning_at_start(tmp_path: Path) -> None:
    port = closed_port()
    result = venta(
        "serve",
        "gateway",
        "--port",
        str(closed_port()),
        cwd=tmp_path,
        VENTA_HTTP__PROT="9000",
        VENTA_DATABASE_URL=f"postgresql://venta@127.0.0.1:{port}/venta",
    )

    assert result.returncode == 1
    first, *rest = result.stderr.splitlines()
    warning = json.loads(first)
    assert (warning["level"], warning["logger"]) == ("WARNING", "venta.settings")
    assert warning["message"] == TYPO.removeprefix("warning: ").strip()
    assert rest[0].startswith("error: cannot connect to PostgreSQL at ")
    assert len(rest) == 2


def _plugin_settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    found = []
    for ep in metadata.entry_points(group="venta"):
        package = ep.module.split(".")[0]
        module = importlib.import_module(ep.module)
        candidates = [module]
        with contextlib.suppress(ModuleNotFoundError):
            candidates.append(importlib.import_module(f"{package}.settings"))
        for mod in candidates:
            for value in vars(mod).values():
                own = isinstance(value, type) and value.__module__.startswith(package)
                if own and issubclass(value, BaseSettings) and value is not BaseSettings:
                    found.append((ep.name, value))
    return found


def test_every_plugin_reads_its_settings_under_its_entry_point_name() -> None:
    classes = _plugin_settings_classes()
    assert {name for name, _ in classes} >= {"clerk", "revenuecat", "algolia", "favourites"}
    prefixes = foreign_prefixes()
    for name, cls in classes:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        assert prefix == f"VENTA_{name.upper()}_", (name, cls)
        assert prefix in prefixes


@pytest.mark.parametrize(
    ("name", "guess"),
    [
        ("VENTA_DATABASE_ULR", "VENTA_DATABASE_URL"),
        ("VENTA_HTTP_PORT", "VENTA_HTTP__PORT"),
        ("VENTA_SERVICES__VENDOR__ADRESS", "VENTA_SERVICES__VENDOR__ADDRESS"),
    ],
)
def test_closest_names(name: str, guess: str) -> None:
    from venta_cli.environment import unknown_variable_warnings

    (warning,) = unknown_variable_warnings({name: "x"}, env_file=None)
    assert warning.endswith(f"did you mean {guess}?")
