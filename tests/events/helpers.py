"""Helpers of the event, worker and search tests: waiting for a condition, a nats-server of
the test's own (started, stopped and restarted at will), JetStream clean-up, app settings, a
plugin recording the events of its handler."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from venta_core.app import Venta
from venta_core.events import EventEnvelope, EventHandler
from venta_core.hookspecs import hookimpl
from venta_core.relay import dlq_stream_name, stream_name
from venta_core.settings import Settings, WorkerSettings
from venta_core.store.search import search_vendors
from venta_core.store.tables import metadata


class EventRecorder:
    """A plugin whose handler ``name`` of ``types`` keeps each envelope it is given."""

    def __init__(self, name: str, types: set[str]) -> None:
        self.name = name
        self.types = types
        self.handled: list[EventEnvelope] = []

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        return [EventHandler(self.name, self.types, self.handle)]

    async def handle(self, envelope: EventEnvelope) -> None:
        self.handled.append(envelope)


NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

#: Worker settings that make retries and redeliveries quick enough for tests.
FAST_WORKER = WorkerSettings(
    port=0,
    concurrency=8,
    ack_wait_seconds=1.0,
    max_deliver=3,
    backoff_seconds=[0.05, 0.1],
    drain_timeout_seconds=2.0,
)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 10.0, every: float = 0.02
) -> None:
    """Return once ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


def fast(settings: Settings, **events: Any) -> Settings:
    """``settings`` with quick worker timings (and event settings overridden)."""
    update: dict[str, Any] = {"worker": FAST_WORKER}
    if events:
        update["events"] = settings.events.model_copy(update=events)
    return settings.model_copy(update=update)


async def empty_tables(app: Venta) -> None:
    """PostgreSQL is shared by the whole run: start each test from empty tables and index."""
    async with app.database.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))
        await conn.execute(sa.delete(search_vendors))


async def delete_streams(settings: Settings, url: str | None = None) -> None:
    """Remove the JetStream streams of ``settings`` (its key prefix) from NATS."""
    url = url or settings.nats_url
    if not url:
        return
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        for name in (stream_name(settings), dlq_stream_name(settings)):
            with contextlib.suppress(Exception):  # absent already
                await js.delete_stream(name)
    finally:
        await nc.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A nats-server with JetStream of the test's own, on a spare port, storing under
    ``store``. ``stop`` and ``start`` again keep the port and the stored streams."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        command += ["-sd", str(self.store)]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server the test started (kill it if it does not stop within 10 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
