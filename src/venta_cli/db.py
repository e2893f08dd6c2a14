"""``venta db``: apply, inspect, roll back and write schema migrations.

Imports stay inside the commands: ``venta db migrate`` loads SQLAlchemy and Alembic, never a
transport (grpc, fastapi, socketio).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from venta_cli.errors import report, settings_or_exit
from venta_cli.help import examples

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


@db_app.command(
    epilog=examples(
        "venta db migrate",
        "VENTA_DATABASE_URL=postgresql://venta@db:5432/venta venta db migrate",
        "venta db migrate --revision 0002",
    )
)
def migrate(
    revision: Annotated[
        str, typer.Option("--revision", "-r", help="Target revision (an id, +N or head).")
    ] = "head",
) -> None:
    """Upgrade the schema to the newest revision (or to --revision)."""
    from venta_core.store import migrate as migrations
    from venta_core.store.engine import redact_url

    settings = settings_or_exit()
    url = redact_url(settings.database_url)
    with _migration_errors():
        before = migrations.current(settings)
        migrations.upgrade(settings, revision)
        after = migrations.current(settings)
    if before == after:
        typer.echo(f"{url}: already at {_shown(after)}")
    else:
        typer.echo(f"{url}: migrated {_shown(before)} -> {_shown(after)}")


@db_app.command(
    epilog=examples(
        "venta db current",
        "VENTA_DATABASE_URL=postgresql://venta@db:5432/venta venta db current",
    )
)
def current() -> None:
    """Show the revision the database is at, and whether that is the newest."""
    from venta_core.store import migrate as migrations
    from venta_core.store.engine import redact_url

    settings = settings_or_exit()
    with _migration_errors():
        revision = migrations.current(settings)
    heads = migrations.heads()
    if revision in heads:
        state = "(head)"
    else:
        state = f"(behind {', '.join(heads)}: run `venta db migrate`)"
    typer.echo(f"{redact_url(settings.database_url)}: {_shown(revision)} {state}")


@db_app.command(
    context_settings={"ignore_unknown_options": True},
    epilog=examples("venta db downgrade -1", "venta db downgrade base --yes"),
)
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target: -1 (one step back), base (empty schema) or an id.")
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
        before = migrations.current(settings)
        migrations.downgrade(settings, revision)
        after = migrations.current(settings)
    typer.echo(f"{url}: downgraded {_shown(before)} -> {_shown(after)}")


@db_app.command(
    epilog=examples(
        'venta db revision -m "vendor opening hours"',
        'venta db revision -m "backfill slugs" --empty',
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
) -> None:
    """Write a new migration into the package (a development task)."""
    from venta_core.store import migrate as migrations

    settings = settings_or_exit()
    with _migration_errors():
        path = migrations.revision(settings, message, autogenerate=autogenerate)
    typer.echo(f"created {path}")
