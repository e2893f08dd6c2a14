"""`venta plugins list`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from venta_cli.errors import fail, settings_or_exit
from venta_cli.help import examples

if TYPE_CHECKING:
    from venta_core.plugins import PluginInfo

plugins_app = typer.Typer(
    help="Inspect plugins.", epilog=examples("venta plugins list"), no_args_is_help=True
)


@plugins_app.command(
    "list",
    epilog=examples(
        "venta plugins list",
        "venta plugins list --json",
        "VENTA_PLUGINS_BLOCKED=clerk venta plugins list",
    ),
)
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show loaded plugins (built-ins included), where each comes from and its hooks."""
    from venta_core.plugins import create_plugin_manager, describe

    settings = settings_or_exit()
    try:
        infos = [_with_origin(info) for info in describe(create_plugin_manager(settings))]
    except Exception as exc:  # a plugin that fails to import or declares an unknown hook
        fail(f"loading plugins failed: {type(exc).__name__}: {exc}")
    if as_json:
        typer.echo(json.dumps([_row(i) for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "version", "source", "hooks")
    for info in infos:
        hooks = "(blocked)" if info.blocked else ", ".join(info.hooks)
        table.add_row(info.name, info.version or "-", info.source, hooks)
    Console().print(table)


def _row(info: PluginInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "source": info.source,
        "hooks": list(info.hooks),
        "blocked": info.blocked,
    }


def _with_origin(info: PluginInfo) -> PluginInfo:
    """A blocked plugin is never loaded, so its package is looked up by entry-point name."""
    if not info.blocked:
        return info
    from dataclasses import replace
    from importlib.metadata import entry_points

    from venta_core.plugins import ENTRY_POINT_GROUP

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=info.name):
        if ep.dist is not None:
            source = f"blocked (entry point of {ep.dist.name})"
            return replace(info, version=ep.dist.version, source=source)
    return info
