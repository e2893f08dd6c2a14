"""`venta plugins list`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from venta_cli.errors import settings_or_exit

plugins_app = typer.Typer(help="Inspect plugins.", no_args_is_help=True)


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show loaded plugins (built-ins included), where each comes from and its hooks."""
    from venta_core.plugins import create_plugin_manager, describe

    settings = settings_or_exit()
    infos = describe(create_plugin_manager(settings))
    if as_json:
        rows = [
            {
                "name": i.name,
                "version": i.version,
                "source": i.source,
                "hooks": list(i.hooks),
                "blocked": i.blocked,
            }
            for i in infos
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "version", "source", "hooks")
    for info in infos:
        hooks = "(blocked)" if info.blocked else ", ".join(info.hooks)
        table.add_row(info.name, info.version or "-", info.source, hooks)
    Console().print(table)
