"""``venta events``: dead letters made by the real worker on a real NATS (JetStream), listed,
replayed into the event stream and purged through the command line; and the one-line answer
of the embedded mode, whose dead letters no other process can reach."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import delete_streams, fast, wait_until
from venta_cli.events import events_app
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.events import EventEnvelope, EventHandler, PoisonEvent
from venta_core.hookspecs import hookimpl
from venta_core.relay import dlq_stream_name, stream_name
from venta_core.settings import Settings
from venta_core.testing import embedded_settings

pytestmark = pytest.mark.integration

root = typer.Typer()
root.add_typer(events_app, name="events")


class Probe:
    """A plugin whose handlers of ``vendor.created`` refuse every event (``PoisonEvent``) while
    ``refusing``, and record the ids of the events they refused and handled."""

    def __init__(self, handlers: tuple[str, ...]) -> None:
        self.handlers = handlers
        self.app: Venta | None = None
        self.owner: Actor | None = None
        self.refusing = True
        self.refused: list[str] = []
        self.handled: list[str] = []

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        return [EventHandler(name, {"vendor.created"}, self.handle) for name in self.handlers]

    async def handle(self, envelope: EventEnvelope) -> None:
        if self.refusing:
            self.refused.append(envelope.id)
            raise PoisonEvent("the probe refuses it")
        self.handled.append(envelope.id)


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """SQLite and a real NATS, under a key prefix (so streams) of this test's own."""
    monkeypatch.chdir(tmp_path)  # no .env of the working directory
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    base = embedded_settings(
        db,
        nats_url=real_service_url("nats"),
        key_prefix=f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
        database_auto_migrate=False,
    )
    return fast(base, relay_interval_seconds=0.1)


@pytest.fixture
async def probe(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Probe]:
    """The probe (one handler, or those named by an indirect parameter), run by the worker of
    a started application; the streams are deleted after."""
    plugin = Probe(getattr(request, "param", ("dlq-probe",)))
    app = Venta(settings, plugins=[plugin], load_entry_points=False)
    app.enable_worker()
    try:
        async with app:
            plugin.app = app
            plugin.owner = Actor.for_user(await app.users.ensure_user("owner"))
            yield plugin
    finally:
        await delete_streams(settings)


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[Any]:
    """A JetStream context of the test's own, to look at the streams directly."""
    import nats

    nc = await nats.connect(settings.nats_url or "", connect_timeout=2)
    yield nc.jetstream()
    await nc.close()


async def venta(settings: Settings | None, *args: str, input: str | None = None) -> Result:
    """Run ``venta events ...`` with the environment of ``settings`` (none: embedded), in a
    thread: the command runs an event loop of its own."""
    env: dict[str, str | None] = {"VENTA_NATS_URL": None, "VENTA_KEY_PREFIX": None}
    if settings is not None:
        env = {"VENTA_NATS_URL": settings.nats_url, "VENTA_KEY_PREFIX": settings.key_prefix}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, root, ["events", *args], input=input, env=env)


async def create_vendors(probe: Probe, count: int) -> None:
    assert probe.app is not None and probe.owner is not None
    for n in range(count):
        await probe.app.vendors.create_vendor(probe.owner, VendorCreate(name=f"Stall {n}"))


async def stored(js: Any, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


async def listed(settings: Settings, *args: str) -> list[dict[str, Any]]:
    result = await venta(settings, "dead-letters", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


async def test_a_dead_letter_is_listed_replayed_and_handled(
    settings: Settings, probe: Probe, js: Any
) -> None:
    dlq, events = dlq_stream_name(settings), stream_name(settings)
    await create_vendors(probe, 1)

    async def dead_lettered(count: int) -> bool:
        return await stored(js, dlq) == count

    await wait_until(lambda: dead_lettered(1))
    [event_id] = probe.refused

    [letter] = await listed(settings)
    assert letter["type"] == "vendor.created"
    assert letter["eventId"] == event_id
    assert letter["handler"] == "dlq-probe"
    assert letter["reason"] == "poison: the probe refuses it"
    assert letter["deliveries"] == 1
    assert letter["subject"] == f"{settings.key_prefix}.events.vendor.created"
    assert isinstance(letter["streamSeq"], int) and letter["time"]
    first_seq = letter["seq"]

    table = await venta(settings, "dead-letters")
    assert table.exit_code == 0, table.output
    header, row, footer = table.stdout.splitlines()
    assert header.split()[:3] == ["SEQ", "TIME", "(UTC)"]
    assert row.split()[0] == str(first_seq)
    assert row.split()[3:7] == ["vendor.created", event_id, "dlq-probe", "1"]
    assert row.endswith("poison: the probe refuses it")
    assert footer == f"1 dead letter in {dlq}"

    assert await listed(settings, "--type", "user.created") == []
    assert [d["seq"] for d in await listed(settings, "--type", "vendor.*")] == [first_seq]
    assert await listed(settings, "--handler", "search-sync") == []
    assert (await js.stream_info(dlq)).state.consumer_count == 0  # readers leave none

    # Replayed while the handler still refuses it: back in the dead-letter stream, as a new
    # dead letter (neither the replay nor its dead letter is taken for a copy of the first).
    result = await venta(settings, "replay", str(first_seq))
    assert result.exit_code == 0, result.output
    await wait_until(lambda: dead_lettered(1))
    await wait_until(lambda: _refused_twice(probe))
    [again] = await listed(settings)
    assert again["seq"] > first_seq
    assert again["eventId"] == event_id

    missing = await venta(settings, "replay", "999999")
    assert missing.exit_code == 1
    assert missing.stderr == f"error: no dead letter 999999 in {dlq}\n"
    assert isinstance(missing.exception, SystemExit)  # no traceback

    probe.refusing = False
    replayed = await venta(settings, "replay", str(again["seq"]))
    assert replayed.exit_code == 0, replayed.output
    line, summary = replayed.stdout.splitlines()
    assert line.startswith(f"replayed {again['seq']}: vendor.created {event_id} -> {events} seq ")
    assert summary == "replayed 1 dead letter"
    await wait_until(lambda: _handled(probe, [event_id]))
    assert await listed(settings) == []
    empty = await venta(settings, "dead-letters")
    assert empty.stdout == f"no dead letters in {dlq}\n"

    # The replay carries the original bytes under an id of its own.
    event_seq = int(line.rsplit(" ", 1)[1])
    copy = await js.get_msg(events, event_seq)
    original = await js.get_msg(events, letter["streamSeq"])
    assert copy.data == original.data
    assert copy.headers["Nats-Msg-Id"] == f"{event_id}:replay:{again['seq']}"
    assert original.headers["Nats-Msg-Id"] == event_id
    assert not any(k.startswith("Venta-Dlq-") for k in copy.headers)


@pytest.mark.parametrize("probe", [("dlq-probe", "dlq-probe-2")], indirect=True)
async def test_replay_all_asks_first_and_purge_deletes(
    settings: Settings, probe: Probe, js: Any
) -> None:
    """Two handlers refuse each of three events: six dead letters, three events."""
    dlq = dlq_stream_name(settings)
    await create_vendors(probe, 3)
    await wait_until(lambda: _count(js, dlq, 6))

    second = await listed(settings, "--handler", "dlq-probe-2")
    assert [d["handler"] for d in second] == ["dlq-probe-2"] * 3
    assert sorted(d["eventId"] for d in second) == sorted(set(probe.refused))
    nothing = await venta(settings, "replay", "--all", "--handler", "search-sync")
    assert nothing.exit_code == 0, nothing.output
    assert nothing.stdout == f"no dead letters in {dlq} (handler search-sync)\n"

    declined = await venta(settings, "replay", "--all", input="n\n")
    assert declined.exit_code == 1
    assert f"Replay 6 dead letters from {dlq}" in declined.stdout
    assert len(await listed(settings)) == 6

    probe.refusing = False
    accepted = await venta(settings, "replay", "--all", "--type", "vendor.created", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    *lines, summary = accepted.stdout.splitlines()[1:]  # after the question
    assert summary == "replayed 6 dead letters"
    assert len(lines) == 6 and all(line.startswith("replayed ") for line in lines)
    # Each event is published once, for both of its dead letters.
    assert sum(line.endswith("(already published)") for line in lines) == 3
    assert len({line.split(" seq ")[1].split()[0] for line in lines}) == 3
    await wait_until(lambda: _handled(probe, probe.refused))  # each event once per handler
    assert await listed(settings) == []

    probe.refusing = True
    await create_vendors(probe, 2)
    await wait_until(lambda: _count(js, dlq, 4))
    every = await listed(settings)
    assert [d["seq"] for d in every] == sorted(d["seq"] for d in every)  # newest last
    assert await listed(settings, "--limit", "1") == every[-1:]
    table = await venta(settings, "dead-letters", "-n", "1")
    assert table.stdout.splitlines()[1].split()[0] == str(every[-1]["seq"])
    assert table.stdout.splitlines()[-1] == f"newest 1 of 4 dead letters in {dlq} (--limit 0: all)"
    none = await venta(settings, "purge-dead-letters", "--type", "user.created")
    assert none.stdout == f"no dead letters in {dlq} (type user.created)\n"
    purged = await venta(settings, "purge-dead-letters", input="y\n")
    assert purged.exit_code == 0, purged.output
    assert purged.stdout.splitlines()[-1] == "deleted 4 dead letters"
    assert await stored(js, dlq) == 0


async def test_bad_usage_is_one_line(settings: Settings) -> None:
    """Bad arguments, and a prefix whose streams were never created."""
    for args in (["replay"], ["replay", "1", "--all"], ["replay", "1", "--type", "x"]):
        result = await venta(settings, *args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    result = await venta(settings, "dead-letters", "--type", "vendor created")
    assert (result.exit_code, result.stderr) == (2, "error: invalid event type 'vendor created'\n")

    result = await venta(settings, "dead-letters")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no stream {dlq_stream_name(settings)} on this NATS")
    assert result.stderr.count("\n") == 1


async def test_embedded_mode_says_dead_letters_are_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["dead-letters"], ["replay", "--all", "--yes"], ["purge-dead-letters", "-y"]):
        result = await venta(None, *args)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert result.stderr == (
            "error: VENTA_NATS_URL is not set: the event stream is in process, and its dead "
            "letters live only inside the running `venta serve all`\n"
        )


async def _count(js: Any, stream: str, count: int) -> bool:
    return await stored(js, stream) == count


async def _refused_twice(probe: Probe) -> bool:
    return len(probe.refused) == 2 and probe.refused[0] == probe.refused[1]


async def _handled(probe: Probe, ids: list[str]) -> bool:
    return sorted(probe.handled) == sorted(ids)
