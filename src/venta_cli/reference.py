"""Render the CLI reference (docs/cli.md) from the command tree itself, so it cannot drift.

python -m venta_cli.reference > docs/cli.md
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from venta_cli.help import example_lines

__all__ = ["render"]

HEADER = """# CLI reference

Generated from the commands themselves (`python -m venta_cli.reference > docs/cli.md`); a test
fails when this page and the code disagree. Every command also answers `--help`.
Settings come from the environment (`VENTA_...`, see configuration.md).

A command that fails prints one line starting with `error:` on stderr, and a second starting
with `hint:` when there is a fix to suggest, and exits non-zero: 2 for bad configuration, a bad
flag or a database schema that is not current, 1 otherwise. A bad flag is named in that line
(`error: --port: 99999 is not in the range 1<=x<=65535`). No traceback is printed unless asked
for with `venta --debug ...` (or `VENTA_LOG__LEVEL=DEBUG`). Help is plain text, flags without a
value are shown bare (`--json`), and each command's help ends with examples.
"""


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name).upper()}` (argument)"
    else:
        names = [*param.opts, *param.secondary_opts]
        if param.metavar and not getattr(param, "is_flag", False):
            names[0] = f"{names[0]} {param.metavar}"
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
    if params:
        out.append("| option | meaning | default |\n|---|---|---|")
        out.extend(_param_row(p) for p in params)
        out.append("")
    lines = example_lines(command.epilog)
    if lines:
        out.append("```bash\n" + "\n".join(lines) + "\n```\n")
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
