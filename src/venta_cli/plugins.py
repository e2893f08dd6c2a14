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
    """Show loaded plugins (built-ins included), where each comes from, its hooks, and which
    plugin provides each port."""
    from venta_core.app import Venta
    from venta_core.plugins import create_plugin_manager, describe
    from venta_core.providers import MissingPort

    settings = settings_or_exit()
    missing: MissingPort | None = None
    try:
        try:
            app = Venta(settings)
            pm, answers = app.pm, app.port_providers()
        except MissingPort as exc:  # still show what is loaded, then the reason
            missing, pm, answers = exc, create_plugin_manager(settings), {}
        infos = [_with_origin(info) for info in describe(pm)]
    except Exception as exc:  # a plugin that fails to import or declares an unknown hook
        fail(f"loading plugins failed: {type(exc).__name__}: {exc}")
    if as_json:
        typer.echo(json.dumps([_row(i, answers) for i in infos], indent=2))
    else:
        _print_tables(infos, answers)
    if missing is not None:
        fail(str(missing), code=2)  # a configuration error, as ``venta serve`` reports it


def _print_tables(infos: list[PluginInfo], answers: dict[str, str | None]) -> None:
    from rich.console import Console
    from rich.table import Table

    from venta_core.providers import PORT_HOOKS

    table = Table("plugin", "version", "source", "hooks")
    for info in infos:
        hooks = "(blocked)" if info.blocked else ", ".join(info.hooks)
        table.add_row(info.name, info.version or "-", info.source, hooks)
    console = Console()
    console.print(table)
    if not answers:
        return
    ports = Table("port", "hook", "provided by")
    for hook, port in PORT_HOOKS.items():
        ports.add_row(port, hook, answers.get(hook) or "(none)")
    console.print(ports)


def _row(info: PluginInfo, answers: dict[str, str | None]) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "source": info.source,
        "hooks": list(info.hooks),
        "blocked": info.blocked,
        "provides": [hook for hook, plugin in answers.items() if plugin == info.name],
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
