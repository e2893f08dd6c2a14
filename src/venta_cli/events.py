"""``venta events``: the dead letters of the worker, on JetStream.

``dead-letters`` lists them, ``replay`` publishes them again into the event stream (on their
original subject, so every handler of their type gets them again) and deletes them once the
stream confirmed, ``purge-dead-letters`` deletes them. The work is done by
``venta_core.ports.dead_letters``; this module parses options and prints.

Without ``VENTA_NATS_URL`` the event stream is in process: its dead letters live inside the
running ``venta serve all`` and no other process can reach them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from venta_cli.errors import fail, settings_or_exit, user_errors
from venta_cli.help import examples

if TYPE_CHECKING:
    from venta_core.ports.dead_letters import DeadLetter, DeadLetterQueue
    from venta_core.settings import Settings

__all__ = ["events_app"]

T = TypeVar("T")

events_app = typer.Typer(
    help="Domain events: list, replay and purge dead letters (JetStream).",
    epilog=examples("venta events dead-letters", "venta events replay 42"),
    no_args_is_help=True,
)

#: Longest reason shown in the table (--json shows it whole).
REASON_WIDTH = 100

_TYPE_HELP = "events of this type (vendor.created; wildcards: vendor.*)"
_HANDLER_HELP = "dead letters of this handler (search-sync)"


def _settings() -> Settings:
    settings = settings_or_exit()
    if not settings.nats_url:
        fail(
            "VENTA_NATS_URL is not set: the event stream is in process, and its dead letters "
            "live only inside the running `venta serve all`"
        )
    return settings


@asynccontextmanager
async def _queue(settings: Settings) -> AsyncIterator[DeadLetterQueue]:
    """The dead-letter stream of ``settings``, on a NATS connection of its own."""
    from venta_core.ports.bus_nats import NatsEventBus
    from venta_core.ports.dead_letters import DeadLetterQueue
    from venta_core.relay import dlq_stream_name, stream_name
    from venta_core.startup import Backend, start_proven

    bus = NatsEventBus(settings.nats_url or "", name="events-cli")
    await start_proven(bus, Backend.nats(settings.nats_url or ""))
    try:
        yield DeadLetterQueue(
            bus.nc.jetstream(),
            prefix=settings.key_prefix,
            stream=stream_name(settings),
            dlq_stream=dlq_stream_name(settings),
            publish_timeout=settings.events.publish_timeout_seconds,
        )
    finally:
        await bus.stop()


@contextmanager
def _errors() -> Iterator[None]:
    """Dead-letter, option and NATS failures as one line (after the general ones)."""
    import nats.errors

    from venta_core.ports.dead_letters import DeadLetterError

    with user_errors():
        try:
            yield
        except DeadLetterError as exc:
            fail(str(exc))
        except ValueError as exc:  # a --type that is no subject
            fail(str(exc), code=2)
        except nats.errors.Error as exc:
            fail(f"NATS: {type(exc).__name__}: {exc}")


def _run(settings: Settings, work: Callable[[DeadLetterQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _queue(settings) as queue:
            return await work(queue)

    with _errors():
        result = asyncio.run(main())
    return result


@events_app.command(
    "dead-letters",
    epilog=examples(
        "venta events dead-letters",
        "venta events dead-letters --type 'vendor.*' --handler search-sync",
        "venta events dead-letters --limit 0 --json",
    ),
)
def dead_letters(
    event_type: Annotated[
        str | None, typer.Option("--type", "-t", help=f"Only {_TYPE_HELP}.")
    ] = None,
    handler: Annotated[str | None, typer.Option("--handler", help=f"Only {_HANDLER_HELP}.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="Show the newest N (0: all).")
    ] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, every field in full.")
    ] = False,
) -> None:
    """List dead letters, newest last.

    Each shows its sequence, when it was dead-lettered, its event type and id, the handler that
    gave up on it, how often it was delivered and why."""
    settings = _settings()

    async def work(queue: DeadLetterQueue) -> tuple[list[DeadLetter], int, str]:
        letters, matched = await queue.list(
            event_type=event_type, handler=handler, limit=limit or None
        )
        return letters, matched, queue.dlq_stream

    letters, matched, stream = _run(settings, work)
    if as_json:
        for letter in letters:
            typer.echo(json.dumps(letter.summary(), ensure_ascii=False))
        return
    if not letters:
        typer.echo(f"no dead letters in {stream}{_selection(event_type, handler)}")
        return
    _print_table(letters)
    if matched > len(letters):
        typer.echo(f"newest {len(letters)} of {matched} dead letters in {stream} (--limit 0: all)")
    else:
        typer.echo(f"{_count(matched)} in {stream}")


@events_app.command(
    "replay",
    epilog=examples(
        "venta events replay 42 43",
        "venta events replay --all --handler search-sync --yes",
    ),
)
def replay(
    seqs: Annotated[
        list[int] | None,
        typer.Argument(
            metavar="SEQ",
            min=1,
            show_default=False,
            help="Sequences of dead letters (the SEQ column of `venta events dead-letters`).",
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every dead letter (narrowed by --type, --handler).")
    ] = False,
    event_type: Annotated[
        str | None, typer.Option("--type", "-t", help=f"With --all: only {_TYPE_HELP}.")
    ] = None,
    handler: Annotated[
        str | None, typer.Option("--handler", help=f"With --all: only {_HANDLER_HELP}.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Publish dead letters again into the event stream, then delete them.

    Each goes out on its original subject with its original bytes, so every handler of its type
    gets it again (handlers are idempotent), and is deleted once the event stream confirmed."""
    if bool(seqs) == all_:
        fail("name dead letters by sequence (SEQ...) or replay them all with --all", code=2)
    if not all_ and (event_type or handler):
        fail("--type and --handler select dead letters for --all", code=2)
    settings = _settings()

    async def confirm(letters: list[DeadLetter], queue: DeadLetterQueue) -> None:
        if yes:
            return
        question = (
            f"Replay {_count(len(letters))} from {queue.dlq_stream} into {queue.stream}? "
            "Every handler of their types gets them again."
        )
        await asyncio.to_thread(typer.confirm, question, abort=True)

    async def work(queue: DeadLetterQueue) -> int:
        if seqs:
            letters = [await queue.get(seq) for seq in dict.fromkeys(seqs)]
        else:
            letters, _ = await queue.list(event_type=event_type, handler=handler)
            if not letters:
                typer.echo(
                    f"no dead letters in {queue.dlq_stream}{_selection(event_type, handler)}"
                )
                return 0
            await confirm(letters, queue)
        done = 0
        async for result in queue.replay(letters):
            letter = result.letter
            note = " (already published)" if result.again else ""
            typer.echo(
                f"replayed {letter.seq}: {letter.event_type} {letter.event_id or '-'} "
                f"-> {queue.stream} seq {result.event_seq}{note}"
            )
            done += 1
        return done

    done = _run(settings, work)
    if done:
        typer.echo(f"replayed {_count(done)}")


@events_app.command(
    "purge-dead-letters",
    epilog=examples(
        "venta events purge-dead-letters --type user.deleted",
        "venta events purge-dead-letters --yes",
    ),
)
def purge_dead_letters(
    event_type: Annotated[
        str | None, typer.Option("--type", "-t", help=f"Only {_TYPE_HELP}.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters for good (all, or those of --type)."""
    settings = _settings()

    async def work(queue: DeadLetterQueue) -> int:
        count = await queue.count(event_type)
        if count == 0:
            typer.echo(f"no dead letters in {queue.dlq_stream}{_selection(event_type, None)}")
            return 0
        if not yes:
            question = f"Delete {_count(count)} from {queue.dlq_stream}? They cannot be replayed."
            await asyncio.to_thread(typer.confirm, question, abort=True)
        return await queue.purge(event_type)

    deleted = _run(settings, work)
    if deleted:
        typer.echo(f"deleted {_count(deleted)}")


def _print_table(letters: list[DeadLetter]) -> None:
    header = ("SEQ", "TIME (UTC)", "TYPE", "EVENT ID", "HANDLER", "DELIVERIES", "REASON")
    rows = [
        (
            str(letter.seq),
            _time(letter.time),
            letter.event_type,
            letter.event_id or "-",
            letter.handler or "-",
            "-" if letter.deliveries is None else str(letter.deliveries),
            _reason(letter.reason),
        )
        for letter in letters
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _reason(reason: str | None) -> str:
    text = " ".join((reason or "-").split())
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 3] + "..."


def _count(n: int) -> str:
    return f"{n} dead letter{'' if n == 1 else 's'}"


def _selection(event_type: str | None, handler: str | None) -> str:
    parts = [f"type {event_type}" if event_type else "", f"handler {handler}" if handler else ""]
    shown = ", ".join(p for p in parts if p)
    return f" ({shown})" if shown else ""
