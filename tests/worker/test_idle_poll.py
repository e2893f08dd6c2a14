"""A worker with nothing to do, on a real JetStream: idle polls are quiet and cost no delay,
and a consumer the server lost is bound again.

The worker reads the stream through ``SpyStream``, which passes every call on to the
real ``JetStreamEventStream`` and records binds (``consumer``) and finished fetches.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import FAST_WORKER, wait_until
from venta_core.events import EventEnvelope, EventHandler, VendorEventData, event_subject
from venta_core.ports import stream_jetstream
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.stream import (
    ConsumerSpec,
    ConsumerState,
    OutgoingMessage,
    PublishAck,
    StreamConsumer,
    StreamMessage,
    StreamSpec,
)
from venta_core.ports.stream_jetstream import JetStreamEventStream
from venta_core.transports.worker import EventWorker, WorkerMetrics, dispatch

pytestmark = pytest.mark.integration

#: Handlers of the worker, each polling its own consumer, as a worker with plugins does.
HANDLERS = 8
#: Idle polls to sit through, all handlers together. nats-py ends some (about one in twenty
#: with several consumers polling on one connection, fewer with one) with the builtin
#: TimeoutError: the server's "request timeout" status beat the client's own timer.
IDLE_POLLS = 800
#: A short poll, so that many idle polls take seconds (the worker's own is longer).
SHORT_POLL_SECONDS = 0.02
#: An event published while the handlers poll is handled within this, loaded machine included
#: (it takes milliseconds; the pause after a failed fetch grows from 0.2 s to 5 s).
PROMPT_SECONDS = 1.0


class SpyConsumer:
    def __init__(self, inner: StreamConsumer, spy: SpyStream) -> None:
        self.durable = inner.durable
        self._inner = inner
        self._spy = spy

    async def fetch(self, batch: int, max_wait: float) -> list[StreamMessage]:
        messages = await self._inner.fetch(batch, max_wait)
        self._spy.idle_polls += not messages
        return messages

    async def state(self) -> ConsumerState:
        return await self._inner.state()

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class SpyStream:
    inner: JetStreamEventStream
    name: str = "stream"
    binds: int = 0
    idle_polls: int = 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def check(self) -> None:
        await self.inner.check()

    async def ensure_stream(self, spec: StreamSpec) -> None:
        await self.inner.ensure_stream(spec)

    async def publish(self, message: OutgoingMessage, confirm_within: float = 5.0) -> PublishAck:
        return await self.inner.publish(message, confirm_within)

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        return await self.inner.publish_batch(messages, confirm_within)

    async def consumer(self, spec: ConsumerSpec) -> StreamConsumer:
        self.binds += 1
        return SpyConsumer(await self.inner.consumer(spec), self)

    async def delete_consumer(self, durable: str, filter_subject: str) -> bool:
        return await self.inner.delete_consumer(durable, filter_subject)


@dataclass
class Handled:
    """When each handler handled each event id."""

    at: dict[tuple[str, str], float] = field(default_factory=dict)

    def handler(self, name: str) -> EventHandler:
        async def handle(envelope: EventEnvelope) -> None:
            self.at[name, envelope.id] = time.monotonic()

        return EventHandler(name, {"vendor.created"}, handle)


@dataclass
class Setup:
    spy: SpyStream
    worker: EventWorker
    handled: Handled
    prefix: str
    stream_name: str

    async def publish(self) -> tuple[str, float]:
        """Publish one ``vendor.created``: its id and when it was published."""
        data = VendorEventData(id=str(uuid.uuid4()), owner_id="owner", name="Stall")
        envelope = EventEnvelope.new("vendor.created", data)
        message = OutgoingMessage(
            event_subject(self.prefix, "vendor.created"),
            envelope.model_dump_json(by_alias=True).encode(),
            msg_id=envelope.id,
        )
        await self.spy.publish(message)
        return envelope.id, time.monotonic()

    async def handled_by_all(self, event_id: str, within: float) -> float:
        """When the last handler handled ``event_id``."""
        names = self.worker.handlers
        await _until(lambda: all((n, event_id) in self.handled.at for n in names), within)
        return max(self.handled.at[n, event_id] for n in names)


@pytest.fixture
async def setup(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Setup]:
    caplog.set_level(logging.INFO)
    prefix = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    events = StreamSpec(name=prefix.upper(), subjects=(f"{prefix}.events.>",), storage="memory")
    bus = NatsEventBus(real_service_url("nats"))
    await bus.start()
    spy = SpyStream(JetStreamEventStream(bus, [events]))
    await spy.start()
    handled = Handled()
    worker = EventWorker(
        spy,
        [handled.handler(f"idle{n}") for n in range(HANDLERS)],
        prefix=prefix,
        settings=FAST_WORKER,
        metrics=WorkerMetrics(CollectorRegistry()),
    )
    await worker.start()
    try:
        yield Setup(spy, worker, handled, prefix, events.name)
    finally:
        await worker.stop()
        await spy.inner.delete(events.name)
        await spy.stop()
        await bus.stop()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def _until(check: Callable[[], bool], timeout: float) -> None:
    async def condition() -> bool:
        return check()

    await wait_until(condition, timeout=timeout, every=0.005)


async def test_idle_polls_are_quiet_and_an_event_after_one_is_handled_promptly(
    setup: Setup, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    usual = dispatch.FETCH_WAIT_SECONDS
    monkeypatch.setattr(dispatch, "FETCH_WAIT_SECONDS", SHORT_POLL_SECONDS)
    await _until(lambda: setup.spy.idle_polls >= IDLE_POLLS, 60)
    monkeypatch.setattr(dispatch, "FETCH_WAIT_SECONDS", usual)

    assert _warnings(caplog) == []
    assert setup.spy.binds == HANDLERS, "an idle poll made the worker bind a consumer again"
    await setup.worker.check()

    polls = setup.spy.idle_polls
    await _until(lambda: setup.spy.idle_polls > polls, 5)
    event_id, published = await setup.publish()
    handled = await setup.handled_by_all(event_id, 10)

    assert handled - published < PROMPT_SECONDS
    assert _warnings(caplog) == []


async def test_a_consumer_the_server_lost_is_bound_again(
    setup: Setup, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "FETCH_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(stream_jetstream, "CONSUMER_CHECK_SECONDS", 0.5)
    (lost, *_) = setup.worker.runners
    await setup.spy.inner.js.delete_consumer(setup.stream_name, lost.spec.durable)

    event_id, _ = await setup.publish()
    await setup.handled_by_all(event_id, 15)

    assert setup.spy.binds == HANDLERS + 1
    assert (
        f"{lost.name}: fetching events failed (JetStream consumer {lost.spec.durable} no "
        f"longer exists on stream {setup.stream_name}); retrying"
    ) in _warnings(caplog)
