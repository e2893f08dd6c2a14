"""docs/cli.md is generated from the command tree; this keeps the two in step."""

from __future__ import annotations

from pathlib import Path

from venta_cli.help import example_lines
from venta_cli.main import cli
from venta_cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date() -> None:
    assert DOC.read_text() == render(cli), (
        "docs/cli.md is stale: run `python -m venta_cli.reference > docs/cli.md`"
    )


def test_every_command_has_help_and_examples() -> None:
    import typer

    def walk(command, path):  # type: ignore[no-untyped-def]
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, command in walk(typer.main.get_command(cli), ["venta"]):
        assert command.help, f"{' '.join(path)} has no help text"
        assert example_lines(command.epilog), f"{' '.join(path)}: add examples(...) to its help"
        for line in example_lines(command.epilog):
            assert line.startswith(("venta ", "VENTA_", "TOKEN=")), line
