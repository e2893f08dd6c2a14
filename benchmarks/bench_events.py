"""Domain events benchmark: outbox -> relay -> stream -> worker -> search index, against the raw
stream in the same run.

    python benchmarks/bench_events.py [--updates 200] [--events 2000] [--writers 4]

For each backend set (embedded: SQLite + in-process stream; real: PostgreSQL + JetStream, when
reachable at VENTA_BENCH_DATABASE_URL / VENTA_BENCH_NATS_URL, defaults on 127.0.0.1) one
application runs the relay and the worker in process, as ``venta serve all`` does:

- latency: a vendor is renamed ``--updates`` times, one after the other; each time from the
  update's commit until the search index has committed the new name ("indexed": from then on
  every search finds it), and until a full-text search for it has found it ("found": the same
  plus one search). The search runs each time the search index has written a batch (not in a
  busy loop, which would take the event loop's time from the pipeline it measures);
- throughput: with the relay paused, ``--writers`` tasks update ``--events`` times in all (100
  vendors), so the events wait in the outbox; then the relay resumes, and events/s is measured
  from then until the worker has handled the last one (the drain after an outage, too);
- raw stream, same run, same payloads: one message published (confirmed) and fetched at a
  time (latency), and ``--events`` published pipelined then fetched in batches (throughput);
- raw nats-py (JetStream only), same run, same payloads: the same throughput run written with
  nats-py's own API (``publish_async``, ``pull_subscribe`` and ``fetch``), the building block
  itself, which venta's stream port does not change;
- the process runs as ``venta serve all`` does: on uvloop when it is installed, with the
  garbage collector tuned (``VENTA_GC_THRESHOLD``); the raw runs share the process;
- ``--rounds``: the throughput runs, through the pipeline and raw, alternate this many times;
  the medians are reported (one short run swings with whatever else the machine does);
- ``vendor.moved``: the same drain of as many queued ``vendor.moved`` events, which the search
  sync's ``vendor.*`` consumer fetches and skips (what most of a moving fleet's stream is);
  one per round, median;
- 1 vs 2 workers (PostgreSQL + JetStream): the throughput run again with a second worker,
  a ``venta serve worker`` process sharing the durable consumers; both runs end when the
  search sync's consumer has nothing left (stored, undelivered or unacknowledged).

See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from statistics import median
from typing import Any

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.ports.search import SearchIndex, SearchQuery
from venta_core.ports.stream import ConsumerSpec, EventStream, OutgoingMessage, StreamSpec
from venta_core.ports.stream_memory import MemoryEventStream
from venta_core.relay import dlq_stream_name, stream_name
from venta_core.settings import Settings
from venta_core.store.engine import redact_url

try:
    from venta_core.runner import tune_gc
except ImportError:  # an older build (PYTHONPATH=old/src): Python's collector, as it ran

    def tune_gc(settings: Settings) -> None:
        return None


VENDORS = 100
POLL_S = 0.0005
#: Events drained, unmeasured, after the second worker starts.
WARM_UP_EVENTS = 400
#: "Has the consumer anything left" asks the database and the broker: not in a busy loop.
DRAINED_POLL_S = 0.005


class WatchedIndex:
    """The application's search index, telling waiters each time it has written a batch."""

    def __init__(self, index: SearchIndex) -> None:
        self._index = index
        self.written = asyncio.Event()
        self.written_at = 0.0  # perf_counter() when the last write returned (committed)

    def __getattr__(self, name: str) -> object:
        return getattr(self._index, name)

    async def upsert(self, vendors: object) -> None:
        await self._index.upsert(vendors)  # type: ignore[arg-type]
        self.written_at = time.perf_counter()
        self.written.set()

    async def delete(self, ids: object) -> None:
        await self._index.delete(ids)  # type: ignore[arg-type]
        self.written_at = time.perf_counter()
        self.written.set()


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)  # seconds
    found: list[float] = field(default_factory=list)  # seconds, a search included
    events_per_s: float = 0.0
    writes_per_s: float = 0.0
    fleet: list[str] = field(default_factory=list)  # the vendors updated


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def until(
    condition: Callable[[], Awaitable[bool]], limit_s: float = 60.0, poll_s: float = POLL_S
) -> None:
    deadline = time.perf_counter() + limit_s
    while not await condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark waited too long")
        await asyncio.sleep(poll_s)


# -- through the application ----------------------------------------------------------------------


async def end_to_end(app: Venta, updates: int, events: int, writers: int, vendors: int) -> Figures:
    """The latency samples and a first throughput run."""
    owner = Actor.for_user(await app.users.ensure_user("bench-owner"))
    fleet = [
        (await app.vendors.create_vendor(owner, VendorCreate(name=f"Stall {n}"))).id
        for n in range(vendors)
    ]
    sync = search_sync(app)
    await until(lambda: _handled(sync, vendors))
    figures = Figures(fleet=fleet)
    target = fleet[0]
    index = app.search_index
    assert isinstance(index, WatchedIndex)
    for _ in range(updates):
        word = f"w{uuid.uuid4().hex[:12]}"
        index.written.clear()
        await app.vendors.update_vendor(owner, target, VendorUpdate(name=f"Stall {word}"))
        committed = time.perf_counter()
        while True:
            await asyncio.wait_for(index.written.wait(), 60)
            index.written.clear()
            indexed = index.written_at
            if await _found(app, word):
                break
        figures.found.append(time.perf_counter() - committed)
        figures.latencies.append(indexed - committed)
    figures.events_per_s, figures.writes_per_s = await throughput(app, fleet, events, writers)
    return figures


async def throughput(
    app: Venta, fleet: list[str], events: int, writers: int
) -> tuple[float, float]:
    """(events/s through the pipeline, vendor updates/s of the writers) of one throughput run."""
    owner = Actor.for_user(await app.users.ensure_user("bench-owner"))
    sync = search_sync(app)
    start_count = sync.handled
    per_writer = events // writers

    async def write(w: int) -> None:
        for n in range(per_writer):
            vendor = fleet[(n * writers + w) % len(fleet)]
            await app.vendors.update_vendor(owner, vendor, VendorUpdate(description=f"v{n}"))

    await app.relay.stop()  # the events wait in the outbox
    started = time.perf_counter()
    await asyncio.gather(*(write(w) for w in range(writers)))
    writes_per_s = per_writer * writers / (time.perf_counter() - started)
    started = time.perf_counter()
    await app.relay.start()
    await until_handled(app, sync, start_count + per_writer * writers)
    return per_writer * writers / (time.perf_counter() - started), writes_per_s


async def drain_rate(app: Venta, fleet: list[str], events: int, writers: int) -> float:
    """Events/s of a throughput run (as in ``end_to_end``), until the search sync's consumer
    has nothing left, whichever worker handled them."""
    owner = Actor.for_user(await app.users.ensure_user("bench-owner"))
    per_writer = events // writers

    async def write(w: int) -> None:
        for n in range(per_writer):
            vendor = fleet[(n * writers + w) % len(fleet)]
            await app.vendors.update_vendor(owner, vendor, VendorUpdate(description=f"d{n}"))

    await app.relay.stop()
    await asyncio.gather(*(write(w) for w in range(writers)))
    started = time.perf_counter()
    await app.relay.start()
    await until_drained(app)
    return per_writer * writers / (time.perf_counter() - started)


async def moved_rate(app: Venta, fleet: list[str], events: int) -> float:
    """Events/s of a drain of ``events`` queued ``vendor.moved`` events (the bulk of a moving
    fleet's stream: the search sync's ``vendor.*`` consumer fetches and skips them), until
    its consumer has nothing left."""
    from datetime import UTC, datetime, timedelta

    from venta_core.events import VendorMovedData
    from venta_core.store import outbox

    now = datetime.now(UTC)
    payloads = [
        VendorMovedData(
            id=fleet[n % len(fleet)],
            lat=52.5 + n * 1e-6,
            long=13.4,
            at=now + timedelta(microseconds=n),
        )
        for n in range(events)
    ]

    await app.relay.stop()
    async with app.database.begin() as conn:
        await outbox.add_events(conn, "vendor.moved", payloads)
    started = time.perf_counter()
    await app.relay.start()
    await until_drained(app)
    return events / (time.perf_counter() - started)


@asynccontextmanager
async def second_worker(settings: Settings) -> AsyncIterator[None]:
    """A ``venta serve worker`` process on the same database and NATS (its relay off)."""
    port = free_port()
    env = {
        **os.environ,
        "VENTA_DATABASE_URL": settings.database_url,
        "VENTA_NATS_URL": settings.nats_url or "",
        "VENTA_KEY_PREFIX": settings.key_prefix,
        "VENTA_EVENTS__RELAY_ENABLED": "false",
        "VENTA_DATABASE_AUTO_MIGRATE": "false",
        "VENTA_LOG__LEVEL": "WARNING",
        "VENTA_PLUGINS_BLOCKED": ",".join(settings.plugins_blocked),
    }
    venta = Path(sys.executable).with_name("venta")
    command = [str(venta), "serve", "worker", "--port", str(port)]
    proc = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        await until(lambda: _ready(port), limit_s=60)
        yield
    finally:
        proc.terminate()
        await proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _ready(port: int) -> bool:
    await asyncio.sleep(0.1)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.write(b"GET /ready HTTP/1.0\r\n\r\n")
    status = await reader.readline()
    writer.close()
    return b" 200 " in status


def search_sync(app: Venta) -> Any:
    """The worker's runner of the search sync (whose consumer the drains watch)."""
    assert app.worker is not None
    (sync,) = [r for r in app.worker.runners if r.name == "search-sync"]
    return sync


async def until_drained(app: Venta) -> None:
    """Until the outbox has nothing pending and the search sync's consumer nothing stored,
    undelivered or unacknowledged (asking the database and the broker: not in a busy loop)."""
    sync = search_sync(app)

    async def drained() -> bool:
        assert sync.consumer is not None
        return await app.relay.pending_count() == 0 and (await sync.consumer.state()).lag == 0

    await until(drained, limit_s=300, poll_s=DRAINED_POLL_S)


async def _handled(runner: object, count: int) -> bool:
    return int(getattr(runner, "handled", 0)) >= count


async def until_handled(app: Venta, runner: object, count: int, limit_s: float = 300) -> None:
    """Until ``runner`` has handled ``count`` events: woken by each write of the search index
    (the runner counts a batch right after writing it, before anything else runs), so that
    waiting takes next to nothing from the measured process (a poll every 0.5 ms took ~8%)."""
    index = app.search_index
    assert isinstance(index, WatchedIndex)
    deadline = time.perf_counter() + limit_s
    while int(getattr(runner, "handled", 0)) < count:
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark waited too long")
        index.written.clear()
        if int(getattr(runner, "handled", 0)) >= count:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(index.written.wait(), DRAINED_POLL_S)


async def _found(app: Venta, word: str) -> bool:
    return (await app.search_index.search(SearchQuery(word, limit=1))).total > 0


# -- the raw stream -------------------------------------------------------------------------------


PAYLOAD = b'{"id": "' + b"x" * 36 + b'", "type": "vendor.updated", "data": {' + b"y" * 420


async def raw(stream: EventStream, root: str, updates: int, events: int) -> Figures:
    """Latency samples and a throughput run of the raw stream."""
    await stream.ensure_stream(StreamSpec(name=f"{root.upper()}_RAW", subjects=(f"{root}.raw.>",)))
    spec = ConsumerSpec(durable="raw", filter_subject=f"{root}.raw.>", max_ack_pending=100_000)
    consumer = await stream.consumer(spec)
    figures = Figures()
    payload = PAYLOAD
    for n in range(updates):
        sent = time.perf_counter()
        await stream.publish(OutgoingMessage(f"{root}.raw.e", payload, msg_id=f"l{n}"))
        got = []
        while not got:
            got = await consumer.fetch(1, 5.0)
        figures.latencies.append(time.perf_counter() - sent)
        await got[0].ack()
    await consumer.close()
    figures.events_per_s = await raw_throughput(stream, root, events)
    return figures


async def raw_throughput(stream: EventStream, root: str, events: int) -> float:
    """Events/s of ``events`` messages published pipelined, then fetched and acknowledged."""
    spec = ConsumerSpec(durable="raw", filter_subject=f"{root}.raw.>", max_ack_pending=100_000)
    consumer = await stream.consumer(spec)
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    batch = [OutgoingMessage(f"{root}.raw.e", PAYLOAD, msg_id=f"{run}{n}") for n in range(events)]
    for chunk in range(0, events, 500):
        await stream.publish_batch(batch[chunk : chunk + 500])
    received = 0
    while received < events:
        messages = await consumer.fetch(256, 5.0)
        received += len(messages)
        await asyncio.gather(*(m.ack() for m in messages))
    rate = events / (time.perf_counter() - started)
    await consumer.close()
    return rate


async def natspy_throughput(url: str, root: str, events: int) -> float:
    """Events/s of ``raw_throughput``'s run through nats-py's own JetStream API."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        run = uuid.uuid4().hex[:8]
        sub = await js.pull_subscribe(f"{root}.raw.>", durable=f"natspy{run}")
        started = time.perf_counter()
        for chunk in range(0, events, 500):
            acks = [
                await js.publish_async(
                    f"{root}.raw.e", PAYLOAD, headers={"Nats-Msg-Id": f"p{run}{n}"}
                )
                for n in range(chunk, min(chunk + 500, events))
            ]
            await asyncio.gather(*acks)
        received = 0
        while received < events:
            messages = await sub.fetch(256, timeout=5.0)
            received += len(messages)
            for m in messages:
                await m.ack()
        rate = events / (time.perf_counter() - started)
        await sub.unsubscribe()
        return rate
    finally:
        await nc.close()


# -- backends -------------------------------------------------------------------------------------


@asynccontextmanager
async def embedded() -> AsyncIterator[tuple[str, Settings, EventStream | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", nats_url=None
        )
        yield "SQLite + in-process stream", settings, MemoryEventStream()


@asynccontextmanager
async def real() -> AsyncIterator[tuple[str, Settings, EventStream | None]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    from venta_core.plugins import schema_migrations
    from venta_core.ports.bus_nats import NatsEventBus
    from venta_core.ports.stream_jetstream import JetStreamEventStream
    from venta_core.store.migrate import upgrade_async

    db_url = os.environ.get("VENTA_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    nats_url = os.environ.get("VENTA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
    name = f"venta_bench_{uuid.uuid4().hex[:8]}"
    base = make_url(db_url)
    admin = await asyncpg.connect(
        host=base.host,
        port=base.port or 5432,
        user=base.username,
        password=base.password,
        database=base.database,
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    # The application runs without entry-point plugins (load_entry_points=False); so does the
    # second worker, blocking the installed ones: both run the same handlers.
    installed = sorted({ep.name for ep in entry_points(group="venta")})
    settings = Settings(
        _env_file=None,
        database_url=url,
        nats_url=nats_url,
        key_prefix=prefix,
        plugins_blocked=installed,
    )
    bus = NatsEventBus(nats_url)
    stream = JetStreamEventStream(bus)
    try:
        await upgrade_async(settings, plugins=schema_migrations(settings))
        await bus.start()
        label = f"PostgreSQL + JetStream ({redact_url(db_url)}, {nats_url})"
        yield label, settings, stream
    finally:
        for stream_to_drop in (
            stream_name(settings),
            dlq_stream_name(settings),
            f"{prefix.upper()}_RAW",
        ):
            await stream.delete(stream_to_drop)
        await bus.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(
    label: str, settings: Settings, stream: EventStream, args: argparse.Namespace
) -> None:
    tune_gc(settings)  # as `venta serve` does
    app = Venta(settings, load_entry_points=False)
    app.search_index = WatchedIndex(app.search_index)  # type: ignore[assignment]
    app.enable_worker()
    one = two = 0.0
    async with app:
        through = await end_to_end(app, args.updates, args.events, args.writers, args.vendors)
        bare = await raw(stream, settings.key_prefix, args.updates, args.events)
        mine, theirs, library, moved = [through.events_per_s], [bare.events_per_s], [], []
        for n in range(args.rounds):
            if n:
                mine.append((await throughput(app, through.fleet, args.events, args.writers))[0])
                theirs.append(await raw_throughput(stream, settings.key_prefix, args.events))
            moved.append(await moved_rate(app, through.fleet, args.events))
            if settings.nats_url:
                library.append(
                    await natspy_throughput(settings.nats_url, settings.key_prefix, args.events)
                )
        through.events_per_s, bare.events_per_s = median(mine), median(theirs)
        if settings.nats_url and args.workers:
            one = await drain_rate(app, through.fleet, args.events, args.writers)
            async with second_worker(settings):
                # Not measured: the new process's first events open its connections and
                # prepare its statements.
                await drain_rate(app, through.fleet, WARM_UP_EVENTS, args.writers)
                two = await drain_rate(app, through.fleet, args.events, args.writers)
    print(f"\n{label}")
    head = f"{'figure':<26}{'relay + worker':>16}{'raw stream':>14}{'ratio':>10}"
    print(head)
    print("-" * len(head))
    rows = [
        ("indexed p50 ms", pct(through.latencies, 0.5), pct(bare.latencies, 0.5)),
        ("indexed p99 ms", pct(through.latencies, 0.99), pct(bare.latencies, 0.99)),
        ("found p50 ms", pct(through.found, 0.5), pct(bare.latencies, 0.5)),
        ("found p99 ms", pct(through.found, 0.99), pct(bare.latencies, 0.99)),
        (f"events/s (median of {args.rounds})", through.events_per_s, bare.events_per_s),
    ]
    for name, mine, theirs in rows:
        print(f"{name:<26}{mine:>16.2f}{theirs:>14.2f}{mine / theirs:>10.2f}")
    skipped = median(moved)
    print(f"{'vendor.moved events/s':<26}{skipped:>16.2f}{bare.events_per_s:>14.2f}", end="")
    print(f"{skipped / bare.events_per_s:>10.2f}")
    if library:
        natspy = median(library)
        ratio = through.events_per_s / natspy
        print(f"{'events/s, raw nats-py':<26}{'':>16}{natspy:>14.2f}{ratio:>10.2f}")
    print(f"(writers filled the outbox at {through.writes_per_s:.0f} vendor updates/s)")
    if one and two:
        print(f"{'events/s, 1 worker':<26}{one:>16.2f}")
        print(f"{'events/s, 2 workers':<26}{two:>16.2f}{'':>14}{two / one:>10.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200, help="latency samples")
    parser.add_argument("--events", type=int, default=2000, help="events of the throughput run")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers")
    parser.add_argument(
        "--vendors", type=int, default=VENDORS, help="vendors the events are spread over"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternated throughput runs (pipeline, raw)"
    )
    parser.add_argument(
        "--no-workers",
        dest="workers",
        action="store_false",
        help="skip the 1 vs 2 workers runs (PostgreSQL + JetStream)",
    )
    args = parser.parse_args()
    print(
        f"venta event benchmark: {args.updates} latency samples, {args.events} events by "
        f"{args.writers} writers over {args.vendors} vendors; relay and worker in process"
    )
    async with embedded() as (label, settings, stream):
        assert stream is not None
        await stream.start()
        await run(label, settings, stream, args)
    try:
        async with real() as (label, settings, stream):
            assert stream is not None
            await run(label, settings, stream, args)
    except (OSError, ConnectionError) as exc:
        print(f"\nPostgreSQL + JetStream: skipped, unreachable ({exc or type(exc).__name__})")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as `venta serve all` runs on it."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
