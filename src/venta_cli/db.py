"""``venta db``: apply, inspect, roll back and write schema migrations.

Imports stay inside the commands: ``venta db migrate`` loads SQLAlchemy and Alembic, never a
transport (grpc, fastapi, socketio).

Plugins' migrations (hook ``venta_migrations``) are branches beside venta's own: each command
loads the plugins (entry points, minus ``VENTA_PLUGINS_BLOCKED``) and reports venta's schema on
its first line, then a line per plugin branch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from venta_cli.errors import report, settings_or_exit
from venta_cli.help import examples

if TYPE_CHECKING:
    from venta_core.settings import Settings
    from venta_core.store.migrate import PluginMigrations

__all__ = ["db_app"]

db_app = typer.Typer(
    help="Database schema: apply, inspect, roll back and write migrations.",
    epilog=examples("venta db current", "venta db migrate"),
    no_args_is_help=True,
)


@contextmanager
def _migration_errors() -> Iterator[None]:
    from venta_core.store.migrate import MigrationError

    try:
        yield
    except MigrationError as exc:
        report(exc)


def _shown(revision: str | None) -> str:
    return revision or "base"


def _plugins(settings: Settings) -> list[PluginMigrations]:
    """The migrations of the plugins installed and not blocked."""
    from venta_core.plugins import schema_migrations

    return schema_migrations(settings)


def _report(
    url: str,
    before: Mapping[str, str | None],
    after: Mapping[str, str | None],
    done: str,
    unchanged: str,
) -> None:
    """venta's line (``url: migrated 0004 -> 0005``), then one per plugin branch."""
    for n, (branch, revision) in enumerate(after.items()):
        was = before.get(branch)
        what = (unchanged if was == revision else done).format(_shown(was), _shown(revision))
        typer.echo(f"{url}: {what}" if n == 0 else f"  {branch}: {what}")


@db_app.command(
    epilog=examples(
        "venta db migrate",
        "VENTA_DATABASE_URL=postgresql://venta@db:5432/venta venta db migrate",
        "venta db migrate --revision 0002",
    )
)
def migrate(
    revision: Annotated[
        str,
        typer.Option(
            "--revision",
            "-r",
            help="Target revision: an id, +N, heads (venta's and each plugin's newest), "
            "venta@head or a plugin's NAME@head.",
        ),
    ] = "heads",
) -> None:
    """Upgrade the schema, venta's and each plugin's, to the newest revisions (or to
    --revision)."""
    from venta_core.store import migrate as migrations
    from venta_core.store.engine import redact_url

    settings = settings_or_exit()
    url = redact_url(settings.database_url)
    with _migration_errors():
        plugins = _plugins(settings)
        before = migrations.state(settings, plugins)
        migrations.upgrade(settings, revision, plugins)
        after = migrations.state(settings, plugins)
    _report(url, before, after, "migrated {} -> {}", "already at {1}")


@db_app.command(
    epilog=examples(
        "venta db current",
        "VENTA_DATABASE_URL=postgresql://venta@db:5432/venta venta db current",
    )
)
def current() -> None:
    """Show the revision the database is at, and whether that is the newest: venta's schema,
    then each plugin's."""
    from venta_core.store import migrate as migrations
    from venta_core.store.engine import redact_url

    settings = settings_or_exit()
    with _migration_errors():
        plugins = _plugins(settings)
        at = migrations.state(settings, plugins)
        newest = migrations.newest(plugins)
    for n, (branch, revision) in enumerate(at.items()):
        head = newest.get(branch)
        state = "(head)" if revision == head else f"(behind {head}: run `venta db migrate`)"
        where = redact_url(settings.database_url) if n == 0 else f"  {branch}"
        typer.echo(f"{where}: {_shown(revision)} {state}")


@db_app.command(
    context_settings={"ignore_unknown_options": True},
    epilog=examples(
        "venta db downgrade -1",
        "venta db downgrade favourites@base",
        "venta db downgrade base --yes",
    ),
)
def downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="Target: -1 (venta's schema one step back), NAME@-1 or NAME@base (a plugin's), "
            "base (empty schema) or an id. Plugin revisions that depend on what goes are "
            "downgraded first."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Roll the schema back to REVISION. Dropped tables and columns lose their data."""
    from venta_core.store import migrate as migrations
    from venta_core.store.engine import redact_url

    settings = settings_or_exit()
    url = redact_url(settings.database_url)
    if not yes:
        typer.confirm(f"Downgrade {url} to {revision}? Data in dropped tables is lost.", abort=True)
    with _migration_errors():
        plugins = _plugins(settings)
        before = migrations.state(settings, plugins)
        migrations.downgrade(settings, revision, plugins)
        after = migrations.state(settings, plugins)
    _report(url, before, after, "downgraded {} -> {}", "left at {1}")


@db_app.command(
    epilog=examples(
        'venta db revision -m "vendor opening hours"',
        'venta db revision -m "backfill slugs" --empty',
        'venta db revision --plugin favourites -m "favourite notes"',
    )
)
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does.")],
    autogenerate: Annotated[
        bool,
        typer.Option(
            "--autogenerate/--empty",
            help="Derive the operations from tables.py vs the database, or write an empty one.",
        ),
    ] = True,
    plugin: Annotated[
        str | None,
        typer.Option(
            "--plugin",
            help="Write it into this plugin's migrations (its venta_migrations name), "
            "comparing its tables.",
        ),
    ] = None,
) -> None:
    """Write a new migration into the package, or into a plugin's (a development task)."""
    from venta_core.store import migrate as migrations

    settings = settings_or_exit()
    with _migration_errors():
        plugins = _plugins(settings)
        path = migrations.revision(settings, message, autogenerate, plugin, plugins)
    typer.echo(f"created {path}")
