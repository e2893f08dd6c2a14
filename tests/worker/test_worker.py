"""The worker on the embedded backends and on PostgreSQL + Redis + JetStream: search sync,
retries with backoff, dead letters, draining, a crashed worker, concurrency limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.events.helpers import fast, wait_until
from tests.worker.conftest import StartApp
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.events import DLQ_HEADERS, EventEnvelope, EventHandler, PoisonEvent
from venta_core.hookspecs import hookimpl
from venta_core.ports.search import SearchQuery
from venta_core.ports.stream import ConsumerSpec, OutgoingMessage, StreamMessage
from venta_core.relay import stream_name
from venta_core.settings import Settings
from venta_core.transports.worker.dispatch import cancel_and_wait

pytestmark = pytest.mark.integration


class Recorder:
    """A plugin with one handler of ``vendor.created`` that records what it handled; vendors
    named ``Bad`` make it fail, ``Poison`` make it refuse, the first ``flaky`` calls fail."""

    def __init__(self, *, delay: float = 0.0, flaky: int = 0, concurrency: int | None = None):
        self.delay = delay
        self.flaky = flaky
        self.concurrency = concurrency
        self.handled: list[str] = []
        self.calls = 0
        self.active = 0
        self.peak = 0

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        return [EventHandler("recorder", {"vendor.created"}, self.handle, self.concurrency)]

    async def handle(self, envelope: EventEnvelope) -> None:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            name = envelope.data["name"]
            if name == "Bad":
                raise RuntimeError("cannot handle Bad")
            if name == "Poison":
                raise PoisonEvent("never handleable")
            if self.flaky > 0:
                self.flaky -= 1
                raise ConnectionError("briefly unavailable")
            self.handled.append(envelope.data["id"])
        finally:
            self.active -= 1


async def _owner(app: Venta) -> Actor:
    return Actor.for_user(await app.users.ensure_user("owner"))


async def _create(app: Venta, *names: str) -> list[str]:
    owner = await _owner(app)
    return [(await app.vendors.create_vendor(owner, VendorCreate(name=n))).id for n in names]


async def _dead_letters(app: Venta, expected: int, wait: float = 5.0) -> list[StreamMessage]:
    prefix = app.settings.key_prefix
    spec = ConsumerSpec(durable="dlq-check", filter_subject=f"{prefix}.dlq.>")
    consumer = await app.stream.consumer(spec)
    got: list[StreamMessage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while len(got) < expected and loop.time() < deadline:
        got += await consumer.fetch(10, 0.2)
    got += await consumer.fetch(10, 0.2)
    await consumer.close()
    return got


def _sample(app: Venta, name: str, **labels: str) -> float:
    assert app.worker is not None
    value = app.worker.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_search_follows_vendor_events(start_app: StartApp) -> None:
    app = await start_app()
    owner = await _owner(app)
    vendor = await app.vendors.create_vendor(owner, VendorCreate(name="Falafel Friends"))
    other = await app.vendors.create_vendor(owner, VendorCreate(name="Crepe Corner"))

    async def found(text: str) -> set[str]:
        page = await app.search_index.search(SearchQuery(text))
        return {hit.vendor.id for hit in page.hits}

    await wait_until(lambda: _is(found("falafel"), {vendor.id}))
    await app.vendors.update_vendor(owner, vendor.id, VendorUpdate(name="Halloumi House"))
    await wait_until(lambda: _is(found("halloumi"), {vendor.id}))
    assert await found("falafel") == set()
    await app.vendors.delete_vendor(owner, other.id)
    await wait_until(lambda: _is(app.search_index.count(), 1))
    assert await found("crepe") == set()
    handled = _sample(
        app, "venta_worker_events_handled_total", handler="search-sync", type="vendor.created"
    )
    assert handled == 2


async def _is(value: Any, expected: object) -> bool:
    return bool(await value == expected)


async def test_a_failing_event_is_retried_with_backoff_then_dead_lettered(
    start_app: StartApp,
) -> None:
    recorder = Recorder()
    app = await start_app(plugins=[recorder])
    bad, good = await _create(app, "Bad", "Good")

    await wait_until(lambda: _true(good in recorder.handled))
    (parked,) = await _dead_letters(app, 1)

    assert parked.subject == f"{app.settings.key_prefix}.dlq.vendor.created"
    assert EventEnvelope.model_validate_json(parked.data).data["id"] == bad
    assert parked.headers[DLQ_HEADERS["handler"]] == "recorder"
    assert parked.headers[DLQ_HEADERS["deliveries"]] == "3"
    assert parked.headers[DLQ_HEADERS["reason"]].startswith("failed: failed 3 times")
    assert recorder.calls == 4  # Bad three times (max_deliver), Good once
    assert (
        _sample(app, "venta_worker_events_failed_total", handler="recorder", type="vendor.created")
        == 3
    )
    assert _sample(app, "venta_worker_events_redelivered_total", handler="recorder") == 2
    assert (
        _sample(app, "venta_worker_events_dead_lettered_total", handler="recorder", reason="failed")
        == 1
    )


async def _true(value: bool) -> bool:
    return value


async def test_a_transient_failure_is_retried_and_handled_once(start_app: StartApp) -> None:
    recorder = Recorder(flaky=1)
    app = await start_app(plugins=[recorder])
    (vendor,) = await _create(app, "Flaky")

    await wait_until(lambda: _true(recorder.handled == [vendor]))
    assert recorder.calls == 2
    assert await _dead_letters(app, 0, wait=0.2) == []


async def test_a_poison_event_is_dead_lettered_at_once(start_app: StartApp) -> None:
    recorder = Recorder()
    app = await start_app(plugins=[recorder])
    await _create(app, "Poison")

    (parked,) = await _dead_letters(app, 1)

    assert parked.headers[DLQ_HEADERS["reason"]] == "poison: never handleable"
    assert recorder.calls == 1


async def test_a_malformed_message_is_dead_lettered_and_the_worker_goes_on(
    start_app: StartApp,
) -> None:
    app = await start_app()
    subject = f"{app.settings.key_prefix}.events.vendor.created"
    # a NATS control header on the original must not stop its dead letter from being stored
    expected = {"Nats-Expected-Stream": stream_name(app.settings)} if app.settings.nats_url else {}
    await app.stream.publish(
        OutgoingMessage(subject, b"{not json", msg_id="garbage-1", headers=expected)
    )
    (vendor,) = await _create(app, "DumplingDen")

    await wait_until(lambda: _found(app, vendor))
    (parked,) = await _dead_letters(app, 1)

    assert parked.data == b"{not json"
    assert parked.headers[DLQ_HEADERS["reason"]].startswith("malformed: invalid envelope")
    assert parked.headers[DLQ_HEADERS["subject"]] == subject
    assert not any(k.lower().startswith("nats-expected") for k in parked.headers)


async def test_a_type_the_handler_does_not_want_is_skipped_unread(start_app: StartApp) -> None:
    """search-sync's filter (``vendor.*``) also brings ``vendor.moved``, which it does not
    want: the subject says so, so the body is not even decoded (not dead-lettered here)."""
    app = await start_app()
    subject = f"{app.settings.key_prefix}.events.vendor.moved"
    await app.stream.publish(OutgoingMessage(subject, b"{not json", msg_id="unwanted-1"))
    (vendor,) = await _create(app, "Noodle Nook")

    await wait_until(lambda: _found(app, vendor))  # stored after the skipped one
    assert app.worker is not None
    (sync,) = [r for r in app.worker.runners if r.name == "search-sync"]
    assert sync.consumer is not None
    await wait_until(lambda: _settled(sync.consumer))
    assert await _dead_letters(app, 0, wait=0.5) == []


async def _settled(consumer: Any) -> bool:
    state = await consumer.state()
    return state.lag == 0


async def _found(app: Venta, vendor_id: str) -> bool:
    return await app.search_index.get(vendor_id) is not None


async def test_stop_lets_events_in_progress_finish(start_app: StartApp) -> None:
    recorder = Recorder(delay=0.5)
    app = await start_app(plugins=[recorder])
    (vendor,) = await _create(app, "Slow Soup")
    await wait_until(lambda: _true(recorder.active == 1))
    assert app.worker is not None

    await app.worker.stop()

    assert recorder.handled == [vendor]


async def test_a_crashed_worker_loses_nothing(start_app: StartApp) -> None:
    recorder = Recorder(delay=0.2, concurrency=2)
    app = await start_app(plugins=[recorder])
    ids = await _create(app, *(f"Stall {n}" for n in range(6)))
    await wait_until(lambda: _true(len(recorder.handled) >= 1 and recorder.active > 0))

    assert app.worker is not None
    # A crash of the recorder's loop: no drain, nothing handed back. (Cancelling tasks in the
    # middle of a database call, as a crash of the search sync would, is not a crash.)
    for runner in app.worker.runners:
        if runner.name != "recorder":
            continue
        assert runner._loop_task is not None
        # A single cancel() can be lost inside a fetch that is just completing, and the loop
        # would go on dispatching beside the replacement: cancel until it is gone.
        await cancel_and_wait(runner._loop_task)
        for task in list(runner._inflight):
            await cancel_and_wait(task)
    assert len(recorder.handled) < len(ids)
    app.worker = None
    replacement = app.enable_worker()
    await replacement.start()
    try:
        await wait_until(lambda: _true(set(recorder.handled) == set(ids)), timeout=15)
    finally:
        await replacement.stop()
    assert recorder.peak <= 2


async def test_each_handler_keeps_to_its_concurrency(start_app: StartApp) -> None:
    recorder = Recorder(delay=0.15, concurrency=3)
    app = await start_app(plugins=[recorder])
    ids = await _create(app, *(f"Cart {n}" for n in range(9)))

    await wait_until(lambda: _true(len(recorder.handled) == len(ids)))

    assert recorder.peak == 3


@pytest.mark.parametrize("backend", ["embedded"])  # JetStream keeps events across restarts
async def test_stopping_an_embedded_app_handles_every_stored_event(
    backend_settings: Settings,
) -> None:
    """The in-process stream lives only as long as the process: stop handles what it holds,
    including what the relay's last pass publishes."""
    recorder = Recorder(delay=0.05, concurrency=2)
    app = Venta(fast(backend_settings), plugins=[recorder], load_entry_points=False)
    app.enable_worker()
    await app.start()
    try:
        ids = await _create(app, *(f"Late {n}" for n in range(8)))
    finally:
        await app.stop()

    # Delivery is at least once: a loop stalled past ack_wait on a loaded machine redelivers.
    assert set(recorder.handled) == set(ids)
