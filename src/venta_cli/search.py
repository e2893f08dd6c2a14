"""``venta search``: the vendor search index.

``venta search reindex`` rebuilds the index from every vendor of the database, a batch at a
time, with a progress bar. Searches keep working meanwhile (unless ``--clear``); vendors
changed while it runs keep their newest version, and documents of vendors that no longer exist
are removed. Run it after restoring a database, changing the search backend, or dead-lettered
search events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from venta_cli.errors import settings_or_exit, user_errors
from venta_cli.help import examples

__all__ = ["search_app"]

search_app = typer.Typer(
    help="Vendor search index: rebuild it from the database.",
    epilog=examples("venta search reindex"),
)


@search_app.callback()
def _group() -> None:
    """Vendor search index."""


@search_app.command(
    "reindex", epilog=examples("venta search reindex", "venta search reindex --clear")
)
def reindex(
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Empty the index first (searches find nothing meanwhile)."),
    ] = False,
) -> None:
    """Rebuild the vendor search index from every vendor of the database."""
    settings = settings_or_exit()
    with user_errors():
        indexed, seconds = asyncio.run(_reindex(settings, clear=clear))
    typer.echo(f"indexed {indexed} vendors in {seconds:.1f}s")


async def _reindex(settings: object, *, clear: bool) -> tuple[int, float]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from venta_core.app import Venta
    from venta_core.builtins.search import count_vendors, reindex_vendors
    from venta_core.settings import Settings

    assert isinstance(settings, Settings)
    app = Venta(settings)
    # Only what a reindex needs: the database and the index (no bus, relay or stream).
    await app.prepare_database()
    await app.database.start()
    try:
        await app.search_index.start()
        started = time.perf_counter()
        total = await count_vendors(app)
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns) as progress:
            task = progress.add_task("indexing vendors", total=total)
            indexed = await reindex_vendors(app, lambda n: progress.advance(task, n), clear=clear)
        return indexed, time.perf_counter() - started
    finally:
        await app.search_index.stop()
        await app.database.stop()
