"""The ``venta`` command: a typer root whose sub-commands build settings and call the library.

``main`` runs the command tree itself (click's standalone mode off), so that every way a
command can fail ends as ``errors.py`` says: a usage error as one line naming the flag, any
exception escaping a command (plugin commands included) as ``error:``/``hint:`` lines. Help is
plain text (no box drawing), the same on a terminal, in a pipe and in docs/cli.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from venta_cli.config import config_app
from venta_cli.db import db_app
from venta_cli.demo import demo_app
from venta_cli.errors import report, usage_error_line
from venta_cli.events import events_app
from venta_cli.help import examples
from venta_cli.plugins import plugins_app
from venta_cli.search import search_app
from venta_cli.serve import serve_app
from venta_cli.token import token_app
from venta_cli.users import users_app

__all__ = ["cli", "main"]


class VentaGroup(TyperGroup):
    """The root group: an exception escaping any command becomes ``error:`` lines."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            report(exc)


cli = typer.Typer(
    name="venta",
    cls=VentaGroup,
    help="venta: the backend of a real-time vendor-discovery platform.",
    epilog=examples("venta serve all", "venta --debug db current", "venta serve all --help"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


def _print_version(value: bool) -> None:
    if value:
        from venta_cli.version import version_text

        typer.echo(version_text())
        raise typer.Exit()


@cli.callback()
def root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Log at DEBUG and print the traceback of a failure (as VENTA_LOG__LEVEL=DEBUG).",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version of venta and of each installed plugin, and exit.",
        ),
    ] = False,
) -> None:
    """venta: the backend of a real-time vendor-discovery platform."""
    if debug:  # read by the settings of the command and by errors.debugging()
        os.environ["VENTA_LOG__LEVEL"] = "DEBUG"


@cli.command("version", epilog=examples("venta version"))
def version_cmd() -> None:
    """Print the version of venta and of each installed plugin (distribution and version)."""
    _print_version(True)


def _add_plugin_commands() -> None:
    """Let plugins add commands; a broken configuration or plugin is reported by the command
    that needs it, not here."""
    from venta_core.plugins import create_plugin_manager
    from venta_core.settings import load_settings

    try:
        create_plugin_manager(load_settings()).hook.venta_cli_commands(cli=cli)
    except Exception:
        return


def main(args: Sequence[str] | None = None) -> None:
    _add_plugin_commands()
    command = typer.main.get_command(cli)
    try:
        code = command.main(args=args, prog_name="venta", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors (exit code 2) and the like
        exit_code = int(getattr(exc, "exit_code", 1))
        if type(exc).__name__ == "NoArgsIsHelpError":  # `venta` alone: the help
            typer.echo(exc.format_message(), err=True)
        elif exit_code == 2:
            typer.echo(f"error: {usage_error_line(exc)}", err=True)
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
