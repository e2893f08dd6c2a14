"""The command line itself: bad flags in one line, unexpected failures without a traceback,
versions, plain help with examples. Real ``venta`` processes."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from tests.cli.process import closed_port, venta


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["serve", "all", "--port", "99999"], "--port: 99999 is not in the range 1<=x<=65535"),
        (["serve", "ws", "--port", "-1"], "--port: -1 is not in the range 0<=x<=65535"),
        (["token", "issue", "--sub", "a", "--ttl", "0"], "--ttl: 0 is not in the range x>=1"),
        (
            ["serve", "gateway", "--port", "eighty"],
            "--port: eighty is not valid (input should be a valid integer, unable to parse "
            "string as an integer)",
        ),
        (["token", "issue"], "--sub: required, not given"),
        (["db", "downgrade"], "REVISION: required, not given"),
        (
            ["serve", "all", "--prot", "8000"],
            "no such option --prot (did you mean --host or --port?)",
        ),
        (["config", "show", "--json=yes"], "option '--json' does not take a value"),
        (["serve", "grpc", "--service"], "option '--service' requires an argument"),
        (["srve", "all"], "no such command 'srve'. Did you mean 'serve'?"),
    ],
)
def test_a_bad_flag_is_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    result = venta(*args, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {line}\n"


BROKEN = "the start was broken on purpose"


def _broken_start(tmp_path: Path) -> dict[str, str]:
    """Variables that make the process's application fail to start with an error nothing
    expects: a ``sitecustomize`` replacing ``Venta.start``."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import venta_core.app\n\n\n"
        "def _start(self):\n"
        f"    raise RuntimeError({BROKEN!r})\n\n\n"
        "venta_core.app.Venta.start = _start\n"
    )
    return {"PYTHONPATH": str(hooks)}


def test_an_unexpected_failure_is_one_line_and_a_hint(tmp_path: Path) -> None:
    port = str(closed_port())

    result = venta("serve", "gateway", "--port", port, cwd=tmp_path, **_broken_start(tmp_path))

    assert result.returncode == 1
    assert result.stderr == (
        f"error: unexpected RuntimeError: {BROKEN}\n"
        "hint: rerun with `venta --debug ...` to see the traceback\n"
    )


def test_an_unexpected_failure_with_debug_shows_the_traceback(tmp_path: Path) -> None:
    port = str(closed_port())
    broken = _broken_start(tmp_path)

    result = venta("--debug", "serve", "gateway", "--port", port, cwd=tmp_path, **broken)

    assert result.returncode == 1
    assert "\nTraceback (most recent call last):\n" in result.stderr  # after the DEBUG logs
    assert result.stderr.endswith(
        f"RuntimeError: {BROKEN}\nerror: unexpected RuntimeError: {BROKEN}\n"
    )


def _expected_versions() -> str:
    plugins = sorted(
        {
            ep.dist.name: ep.dist.version
            for ep in metadata.entry_points(group="venta")
            if ep.dist is not None
        }.items()
    )
    assert plugins, "the test environment installs the plugins"
    lines = [f"venta {metadata.version('venta')}", "plugins:"]
    return "\n".join([*lines, *(f"  {name} {version}" for name, version in plugins)]) + "\n"


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version_lists_venta_and_every_plugin(tmp_path: Path, args: list[str]) -> None:
    result = venta(*args, cwd=tmp_path)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == _expected_versions()
    assert "venta-clerk " in result.stdout


def test_help_is_plain_with_bare_flags_and_examples(tmp_path: Path) -> None:
    result = venta("config", "show", "--help", cwd=tmp_path)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "Usage: venta config show [OPTIONS]\n"
        "\n"
        "  Print the effective configuration (environment, .env, defaults), secrets\n"
        "  masked.\n"
        "\n"
        "Options:\n"
        "  --json  Print JSON instead of lines.\n"
        "  --help  Show this message and exit.\n"
        "\n"
        "  Examples:\n"
        "\n"
        "    venta config show\n"
        "    venta config show --json\n"
        "    VENTA_HTTP__PORT=9000 venta config show | grep HTTP\n"
    )


def test_token_help_says_what_sub_is(tmp_path: Path) -> None:
    result = venta("token", "issue", "--help", cwd=tmp_path)

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--sub SUBJECT The token's subject (`sub` claim): the user's id at the identity " in text
    assert "not a venta user id. The first request with the token creates that user" in text
    assert "SUBJECT (nothing else" not in text
