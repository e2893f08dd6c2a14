"""Render the CLI reference (docs/cli.md) from the command tree itself, so it cannot drift.

python -m venta_cli.reference > docs/cli.md
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

__all__ = ["render"]

HEADER = """# CLI reference

Generated from the commands themselves (`python -m venta_cli.reference > docs/cli.md`); a test
fails when this page and the code disagree. Every command also answers `--help`.
Settings come from the environment (`VENTA_...`, see configuration.md); a command that fails
prints one line starting with `error:` on stderr and exits non-zero (2 for bad configuration
or usage).
"""


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name).upper()}` (argument)"
    else:
        names = [*param.opts, *param.secondary_opts]
        name = ", ".join(f"`{n}`" for n in names)
    help_text = getattr(param, "help", None) or ""
    default = param.default
    shown = "" if default is None or callable(default) or default == () else f"`{default}`"
    if getattr(param, "is_flag", False) and default is False:
        shown = ""
    help_text = " ".join(help_text.split()).replace("|", "\\|")
    return f"| {name} | {help_text} | {shown} |"


def _section(command: Any, path: list[str], out: list[str]) -> None:
    depth = min(len(path) + 1, 4)
    out.append(f"{'#' * depth} `{' '.join(path)}`\n")
    doc = inspect.cleandoc(command.help or "")
    if doc:
        out.append(" ".join(doc.split("\n\n")[0].split()) + "\n")
    params = [p for p in command.params if p.name != "help" and not getattr(p, "hidden", False)]
    group = hasattr(command, "commands")
    if params and not group:
        out.append("| option | meaning | default |\n|---|---|---|")
        out.extend(_param_row(p) for p in params)
        out.append("")
    if group:
        for name in sorted(command.commands):
            sub = command.commands[name]
            if not sub.hidden:
                _section(sub, [*path, name], out)


def render(cli: typer.Typer) -> str:
    root = typer.main.get_command(cli)
    out: list[str] = [HEADER]
    _section(root, ["venta"], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    from venta_cli.main import cli

    print(render(cli), end="")
