"""The ``venta`` command: a typer root whose sub-commands build settings and call the library."""

from __future__ import annotations

import typer

from venta_cli.config import config_app
from venta_cli.db import db_app
from venta_cli.demo import demo_app
from venta_cli.events import events_app
from venta_cli.plugins import plugins_app
from venta_cli.search import search_app
from venta_cli.serve import serve_app
from venta_cli.token import token_app
from venta_cli.users import users_app

__all__ = ["cli", "main"]

cli = typer.Typer(
    name="venta",
    help="venta: the backend of a real-time vendor-discovery platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.add_typer(serve_app, name="serve")
cli.add_typer(db_app, name="db")
cli.add_typer(config_app, name="config")
cli.add_typer(plugins_app, name="plugins")
cli.add_typer(token_app, name="token")
cli.add_typer(demo_app, name="demo")
cli.add_typer(search_app, name="search")
cli.add_typer(events_app, name="events")
cli.add_typer(users_app, name="users")


def _add_plugin_commands() -> None:
    """Let plugins add commands; a broken configuration is reported by the command itself."""
    from venta_core.plugins import create_plugin_manager
    from venta_core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        return
    create_plugin_manager(settings).hook.venta_cli_commands(cli=cli)


def main() -> None:
    _add_plugin_commands()
    cli()


if __name__ == "__main__":
    main()
