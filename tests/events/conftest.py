"""Fixtures of the event tests: every ``EventStream`` implementation behind one fixture.

The in-process stream always runs; JetStream runs when ``VENTA_TEST_NATS_URL`` is set (and
fails under CI when it is not, see ``tests/backends.py``). Each test gets its own subject root
and stream names, and deletes its streams afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from venta_core.contracts.stream import StreamUnderTest, new_root
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.stream import EventStream
from venta_core.ports.stream_jetstream import JetStreamEventStream
from venta_core.ports.stream_memory import MemoryEventStream

#: What a contract test publishes on (``venta_core.contracts.stream``).
Streams = StreamUnderTest


@pytest.fixture(params=["memory", "jetstream"])
async def streams(request: pytest.FixtureRequest) -> AsyncIterator[Streams]:
    root = new_root(RUN_PREFIX)
    events, dlq = Streams.specs(root)
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
