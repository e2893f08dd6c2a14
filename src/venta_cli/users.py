"""``venta users``: administration of user accounts by their external identity.

A deleted user's external id is tombstoned: no user is created for it again, whatever token or
webhook names it (docs/architecture.md, "Data"). ``venta users restore`` lifts the tombstone
on purpose, for an account deleted by mistake or a development subject to be reused: the next
sign-in creates a new, empty user. The command works on the database (``VENTA_DATABASE_URL``),
so run it where ``venta db migrate`` runs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from venta_cli.errors import fail, settings_or_exit, user_errors
from venta_cli.help import examples

__all__ = ["users_app"]

users_app = typer.Typer(
    help="User accounts: lift the tombstone of a deleted account.",
    epilog=examples("venta users restore user_2abc"),
    no_args_is_help=True,
)

#: ``users.external_id`` holds 255 characters.
MAX_EXTERNAL_ID = 255


@users_app.command(epilog=examples("venta users restore user_2abc"))
def restore(
    external_id: Annotated[
        str, typer.Argument(help="The identity provider's subject (a Clerk user id, say).")
    ],
) -> None:
    """Let a deleted EXTERNAL_ID sign in again, as a new account with a new id (its old
    vendors and subscription are gone for good)."""
    if not external_id or len(external_id) > MAX_EXTERNAL_ID:
        fail(f"EXTERNAL_ID must be 1 to {MAX_EXTERNAL_ID} characters", code=2)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in external_id):
        fail("EXTERNAL_ID must not contain control characters", code=2)
    from venta_core.store import migrate

    settings = settings_or_exit()
    try:
        from venta_core.plugins import schema_migrations

        plugins = schema_migrations(settings)
        up_to_date = migrate.state(settings, plugins) == migrate.newest(plugins)
    except migrate.MigrationError as exc:  # one line, password hidden
        fail(str(exc))
    if not up_to_date:
        fail("the database schema is not up to date: run `venta db migrate` first")
    with user_errors():
        restored = asyncio.run(_restore(settings, external_id))
    if not restored:
        fail(f"{external_id} is not a deleted account")
    typer.echo(f"restored {external_id}: its next sign-in creates a new account")


async def _restore(settings: object, external_id: str) -> bool:
    from venta_core.services.identities import DeletedIdentities
    from venta_core.settings import Settings
    from venta_core.store.engine import Database

    assert isinstance(settings, Settings)
    database = Database(settings)
    try:
        return await DeletedIdentities(database).restore(external_id)
    finally:
        await database.stop()
