"""Fixtures of the event tests: every ``EventStream`` implementation behind one fixture.

The in-process stream always runs; JetStream runs when ``VENTA_TEST_NATS_URL`` is set (and
fails under CI when it is not, see ``tests/backends.py``). Each test gets its own subject root
and stream names, and deletes its streams afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.stream import EventStream, StreamSpec
from venta_core.ports.stream_jetstream import JetStreamEventStream
from venta_core.ports.stream_memory import MemoryEventStream


@dataclass(frozen=True)
class Streams:
    """What a contract test publishes on: ``root.events.*`` and ``root.dlq.*``."""

    stream: EventStream
    root: str
    events: StreamSpec
    dlq: StreamSpec


@pytest.fixture(params=["memory", "jetstream"])
async def streams(request: pytest.FixtureRequest) -> AsyncIterator[Streams]:
    root = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    name = root.upper()
    events = StreamSpec(name=name, subjects=(f"{root}.events.>",), storage="memory")
    dlq = StreamSpec(name=f"{name}_DLQ", subjects=(f"{root}.dlq.>",), storage="memory")
    bus: NatsEventBus | None = None
    stream: EventStream
    if request.param == "memory":
        stream = MemoryEventStream([events, dlq])
    else:
        bus = NatsEventBus(real_service_url("nats"))
        await bus.start()
        stream = JetStreamEventStream(bus, [events, dlq])
    await stream.start()
    try:
        yield Streams(stream, root, events, dlq)
    finally:
        if isinstance(stream, JetStreamEventStream):
            await stream.delete(events.name)
            await stream.delete(dlq.name)
        await stream.stop()
        if bus is not None:
            await bus.stop()
