"""Handlers that take batches, on the embedded backends and on PostgreSQL + JetStream: a poison
event in the middle of a batch, acknowledgement only after the commit (a worker killed in
between), the built-in search sync, and two workers sharing the durable consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from tests.events.helpers import FAST_WORKER, wait_until
from tests.worker.conftest import StartApp
from venta_core.app import Venta
from venta_core.builtins.search import search_sync_handler
from venta_core.domain import Actor, VendorCreate
from venta_core.events import DLQ_HEADERS, EventEnvelope, EventHandler, PoisonEvent
from venta_core.hookspecs import hookimpl
from venta_core.observability.metrics import new_registry
from venta_core.ports.stream import ConsumerSpec, EventStream, StreamMessage
from venta_core.store.outbox import StoredEvent
from venta_core.transports.worker import EventWorker, WorkerMetrics
from venta_core.transports.worker.dispatch import cancel_and_wait

pytestmark = pytest.mark.integration


class Batcher:
    """A plugin whose ``vendor.created`` handler takes batches and records them; a batch with
    a vendor named ``Poison`` raises (as a handler finding one would), and ``handle`` refuses
    that one alone. ``hang`` makes a batch wait forever once it is recorded ("committed")."""

    def __init__(self, *, delay: float = 0.0, hang: bool = False) -> None:
        self.delay = delay
        self.hang = hang
        self.batches: list[list[str]] = []
        self.singles: list[str] = []

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        return [self.handler()]

    def handler(self) -> EventHandler:
        return EventHandler(
            "batcher", {"vendor.created"}, self.handle, handle_batch=self.handle_batch
        )

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        names = [e.data["name"] for e in envelopes]
        if "Poison" in names:
            raise PoisonEvent("a poison event in the batch")
        await asyncio.sleep(self.delay)
        self.batches.append(names)
        if self.hang:
            await asyncio.Event().wait()

    async def handle(self, envelope: EventEnvelope) -> None:
        if envelope.data["name"] == "Poison":
            raise PoisonEvent("never handleable")
        self.singles.append(envelope.data["name"])

    @property
    def handled(self) -> list[str]:
        return [name for batch in self.batches for name in batch] + self.singles


async def _create(app: Venta, *names: str) -> list[str]:
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    return [(await app.vendors.create_vendor(owner, VendorCreate(name=n))).id for n in names]


async def _queued(app: Venta, *names: str) -> list[str]:
    """Create vendors while the worker is not running and relay their events, so the worker
    finds them all stored when it starts."""
    ids = await _create(app, *names)
    await app.relay.relay_pending()
    return ids


async def _dead_letters(app: Venta, expected: int) -> list[StreamMessage]:
    spec = ConsumerSpec(durable="dlq-check", filter_subject=f"{app.settings.key_prefix}.dlq.>")
    consumer = await app.stream.consumer(spec)
    got: list[StreamMessage] = []
    for _ in range(25):
        got += await consumer.fetch(10, 0.2)
        if len(got) >= expected:
            break
    await consumer.close()
    return got


async def _true(value: bool) -> bool:
    return value


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone(start_app: StartApp) -> None:
    batcher = Batcher()
    app = await start_app(plugins=[batcher], worker=False)
    await _queued(app, "Apple Cart", "Poison", "Bean Bar", "Curry Corner")
    worker = app.enable_worker()
    await worker.start()
    try:
        await wait_until(lambda: _true(len(batcher.handled) == 3))
        (letter,) = await _dead_letters(app, 1)
    finally:
        await worker.stop()

    assert batcher.batches == []  # the one batch raised: its events were handled one by one
    assert batcher.singles == ["Apple Cart", "Bean Bar", "Curry Corner"]  # in stream order
    assert letter.headers[DLQ_HEADERS["reason"]] == "poison: never handleable"
    assert letter.headers[DLQ_HEADERS["handler"]] == "batcher"


async def test_search_sync_indexes_a_batch_around_a_poison_event(start_app: StartApp) -> None:
    app = await start_app(worker=False)
    ids = await _queued(app, "Apple Cart", "Bean Bar")
    broken = EventEnvelope.model_validate(
        {
            "id": "e-broken",
            "type": "vendor.updated",
            "occurredAt": "2026-01-01T00:00:00Z",
            "data": {"id": ids[0], "ownerId": "someone"},
        }
    )
    await app.stream.publish(app.relay._message(StoredEvent.of(broken)))
    ids += await _queued(app, "Curry Corner")
    worker = app.enable_worker()
    await worker.start()
    try:
        await wait_until(lambda: _indexed(app, set(ids)))
        (letter,) = await _dead_letters(app, 1)
    finally:
        await worker.stop()
    assert letter.headers[DLQ_HEADERS["handler"]] == "search-sync"
    assert letter.headers[DLQ_HEADERS["reason"]].startswith("poison: vendor.updated without")
    assert await app.search_index.count() == 3


async def _indexed(app: Venta, ids: set[str]) -> bool:
    return {i for i in ids if await app.search_index.get(i) is not None} == ids


async def test_a_worker_killed_between_commit_and_ack_has_the_batch_redelivered(
    start_app: StartApp,
) -> None:
    """The index write of a batch commits, then the worker dies before acknowledging: the
    events come again and writing them again changes nothing."""
    written: list[list[str]] = []

    class Indexer:
        @hookimpl
        def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
            sync = search_sync_handler(lambda: app.search_index)
            assert sync.handle_batch is not None
            inner = sync.handle_batch

            async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
                await inner(envelopes)  # committed
                written.append([e.id for e in envelopes])
                if len(written) == 1:
                    await asyncio.Event().wait()  # dies here, before the acknowledgement

            return [EventHandler("indexer", sync.event_types, sync.handle, None, handle_batch)]

    app = await start_app(plugins=[Indexer()], worker=False)
    ids = await _queued(app, "Apple Cart", "Bean Bar", "Curry Corner")
    worker = app.enable_worker()
    await worker.start()
    (runner,) = [r for r in worker.runners if r.name == "indexer"]
    await wait_until(lambda: _true(len(written) == 1 and len(written[0]) == 3))
    assert runner.consumer is not None
    assert (await runner.consumer.state()).ack_pending == 3  # committed, not acknowledged
    # The crash: the loop and the batch are gone, nothing is handed back.
    assert runner._loop_task is not None
    await cancel_and_wait(runner._loop_task)
    for task in list(runner._inflight):
        await cancel_and_wait(task)
    await worker.stop()

    app.worker = None
    replacement = app.enable_worker()
    await replacement.start()
    try:
        # after ack_wait
        await wait_until(lambda: _true(set(_redone(written)) == set(written[0])), timeout=15)
        (again,) = [r for r in replacement.runners if r.name == "indexer"]
        await wait_until(lambda: _lag(again.consumer, 0))
    finally:
        await replacement.stop()
    assert sorted(_redone(written)) == sorted(written[0])  # the same events, once more
    assert await _indexed(app, set(ids))
    assert await app.search_index.count() == 3
    assert await _dead_letters(app, 0) == []


def _redone(written: list[list[str]]) -> list[str]:
    return [event_id for batch in written[1:] for event_id in batch]


async def _lag(consumer: object, expected: int) -> bool:
    state = await consumer.state()  # type: ignore[attr-defined]
    return bool(state.lag == expected)


@asynccontextmanager
async def _second_stream(app: Venta) -> AsyncIterator[EventStream]:
    """What another worker process would use: its own connection to the same JetStream, or
    (embedded) the same in-process stream."""
    if not app.settings.nats_url:
        yield app.stream
        return
    from venta_core.ports.bus_nats import NatsEventBus
    from venta_core.ports.stream_jetstream import JetStreamEventStream

    bus = NatsEventBus(app.settings.nats_url)
    await bus.start()
    try:
        yield JetStreamEventStream(bus)
    finally:
        await bus.stop()


async def test_two_workers_share_the_consumers(start_app: StartApp) -> None:
    settings = FAST_WORKER.model_copy(update={"batch_size": 4, "ack_wait_seconds": 30.0})
    first, second = Batcher(delay=0.02), Batcher(delay=0.02)
    app = await start_app(worker=False)
    names = [f"Stall {n}" for n in range(60)]
    await _queued(app, *names)
    async with _second_stream(app) as other:
        workers = [
            EventWorker(
                stream,
                [batcher.handler()],
                prefix=app.settings.key_prefix,
                settings=settings,
                metrics=WorkerMetrics(new_registry()),
            )
            for stream, batcher in ((app.stream, first), (other, second))
        ]
        for worker in workers:
            await worker.start()
        try:
            await wait_until(lambda: _true(len(first.handled) + len(second.handled) >= 60))
            await asyncio.sleep(0.2)  # anything handled twice would show by now
        finally:
            for worker in workers:
                await worker.stop()

    assert sorted(first.handled + second.handled) == sorted(names)  # each once
    assert first.handled and second.handled  # both took part
