"""The outbox relay on the embedded backends and on PostgreSQL + JetStream: order, no loss
while the stream is down, no duplicates after a crash, one relay at a time, prompt wake-up."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence

import pytest
import sqlalchemy as sa
from opentelemetry.trace import StatusCode

from tests.events.helpers import delete_streams, empty_tables, fast, wait_until
from tests.spans import recording_spans
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.events import EventEnvelope, SubscriptionEventData
from venta_core.observability import tracing
from venta_core.ports.stream import (
    ConsumerSpec,
    EventStream,
    OutgoingMessage,
    PublishAck,
    StreamMessage,
)
from venta_core.relay import RELAY_LOCK_KEY, OutboxRelay
from venta_core.settings import Settings
from venta_core.store import outbox
from venta_core.store.engine import Database
from venta_core.store.outbox import StoredEvent
from venta_core.store.tables import outbox as outbox_table

pytestmark = pytest.mark.integration


class Wrapped:
    """An ``EventStream`` that hands what a subclass does not override to ``inner``."""

    def __init__(self, inner: EventStream) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class Flaky(Wrapped):
    """An ``EventStream`` whose publishing fails while ``down`` and may be slowed down."""

    def __init__(self, inner: EventStream) -> None:
        super().__init__(inner)
        self.down = False
        self.delay = 0.0
        self.batches = 0

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        self.batches += 1
        await asyncio.sleep(self.delay)
        if self.down:
            return [ConnectionError("stream down") for _ in messages]
        return await self.inner.publish_batch(messages, confirm_within)


@pytest.fixture
async def app(backend_settings: Settings) -> AsyncIterator[Venta]:
    """A started application whose own relay is off: each test drives relays itself."""
    application = Venta(fast(backend_settings, relay_enabled=False), load_entry_points=False)
    if not backend_settings.is_sqlite:
        await application.database.start()
        await empty_tables(application)
    try:
        async with application:
            yield application
    finally:
        await delete_streams(application.settings)


async def _events(app: Venta, vendors: int) -> list[EventEnvelope]:
    """Write a user and ``vendors`` vendors; return the outbox's pending events."""
    user = await app.users.ensure_user(f"owner-{vendors}")
    for n in range(vendors):
        await app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name=f"Stall {n}"))
    async with app.database.connect() as conn:
        return [e for _, e in await outbox.pending_events(conn, 1000)]


async def _stored(app: Venta, expected: int) -> list[StreamMessage]:
    prefix = app.settings.key_prefix
    spec = ConsumerSpec(durable="check", filter_subject=f"{prefix}.events.>", ack_wait_seconds=30)
    consumer = await app.stream.consumer(spec)
    got: list[StreamMessage] = []
    for _ in range(20):
        got += await consumer.fetch(100, 0.2)
        if len(got) >= expected:
            break
    got += await consumer.fetch(100, 0.3)  # anything beyond what is expected
    await consumer.close()
    return got


async def test_a_stored_row_and_its_envelope_name_the_same_order_key(app: Venta) -> None:
    written = await _events(app, 1)  # a user and a vendor: ordered by their own ids
    subscription = SubscriptionEventData(user_id="user-7", status="active")
    async with app.database.begin() as conn:
        await outbox.add_event(conn, "subscription.updated", subscription)
    async with app.database.connect() as conn:
        stored = await outbox.pending_stored(conn, 1000)

    assert [e.order_key for e in stored] == [*(e.data["id"] for e in written), "user-7"]
    for row in stored:  # the body as the database prints the JSON: compared as a document
        built = StoredEvent.of(row.envelope(), row.seq)
        assert dataclasses.replace(built, body=b"") == dataclasses.replace(row, body=b"")
        assert json.loads(built.body) == json.loads(row.body)


async def test_events_are_published_in_outbox_order_and_marked_sent(app: Venta) -> None:
    events = await _events(app, 3)
    relay = OutboxRelay(app.database, app.stream, app.settings)

    assert await relay.relay_pending() == len(events) == 4

    stored = await _stored(app, len(events))
    assert [m.headers["Nats-Msg-Id"] for m in stored] == [e.id for e in events]
    assert stored[0].subject == f"{app.settings.key_prefix}.events.user.created"
    assert EventEnvelope.model_validate_json(stored[1].data) == events[1]
    assert await relay.pending_count() == 0


async def test_events_wait_in_the_outbox_while_the_stream_is_down(app: Venta) -> None:
    flaky = Flaky(app.stream)
    relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]
    flaky.down = True
    events = await _events(app, 2)

    with pytest.raises(ConnectionError):
        await relay.relay_pending()
    assert await relay.pending_count() == len(events)

    flaky.down = False
    assert await relay.relay_pending() == len(events)
    assert len(await _stored(app, len(events))) == len(events)


async def test_a_failed_publish_is_a_failed_span_and_the_retry_a_new_one(app: Venta) -> None:
    flaky = Flaky(app.stream)
    relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]
    with recording_spans() as spans:
        with tracing.provider().get_tracer("test").start_as_current_span("request") as request:
            events = await _events(app, 1)
        flaky.down = True
        with pytest.raises(ConnectionError):
            await relay.relay_pending()
        flaky.down = False
        assert await relay.relay_pending() == len(events)

    [event] = [e for e in events if e.type == "vendor.created"]
    subject = f"{app.settings.key_prefix}.events.vendor.created"
    failed, sent = [s for s in spans.get_finished_spans() if s.name == f"publish {subject}"]
    for span in (failed, sent):
        assert span.parent is not None and span.parent.span_id == request.context.span_id
        assert (span.attributes or {})["messaging.message.id"] == event.id
    assert failed.status.status_code is StatusCode.ERROR and failed.events[0].name == "exception"
    assert sent.status.status_code is StatusCode.UNSET
    [message] = [m for m in await _stored(app, len(events)) if m.subject == subject]
    assert message.headers["traceparent"].split("-")[2] == f"{sent.context.span_id:016x}"


async def test_a_relay_that_died_before_marking_causes_no_duplicate(app: Venta) -> None:
    events = await _events(app, 2)
    relay = OutboxRelay(app.database, app.stream, app.settings)
    # A relay published everything, then died before marking the rows sent:
    first = await app.stream.publish_batch([relay._message(StoredEvent.of(e)) for e in events])
    assert all(isinstance(r, PublishAck) and not r.duplicate for r in first)

    assert await relay.relay_pending() == len(events)  # published again: dropped as copies

    stored = await _stored(app, len(events))
    assert [m.headers["Nats-Msg-Id"] for m in stored] == [e.id for e in events]


@pytest.mark.parametrize("backend", ["real"])  # SQLite is single-process: one relay by design
async def test_only_one_relay_publishes_at_a_time(app: Venta) -> None:
    events = await _events(app, 3)
    other_db = Database(app.settings)
    slow = Flaky(app.stream)
    slow.delay = 0.5
    leader = OutboxRelay(app.database, slow, app.settings)  # type: ignore[arg-type]
    follower = OutboxRelay(other_db, app.stream, app.settings)
    try:
        running = asyncio.create_task(leader.relay_pending())
        await asyncio.sleep(0.2)  # the leader holds the lock, publishing slowly

        assert await follower.relay_pending() == 0
        assert await running == len(events)
        assert await follower.relay_pending() == 0
    finally:
        await other_db.stop()
    assert len(await _stored(app, len(events))) == len(events)


@pytest.mark.parametrize("backend", ["real"])
async def test_the_claim_takes_the_relay_lock_in_the_same_statement(app: Venta) -> None:
    """PostgreSQL: one statement takes the advisory lock and claims; it claims nothing while
    another transaction holds the lock, and its transaction commits without the WAL wait."""
    events = await _events(app, 2)
    lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
    async with app.database.begin() as holder:
        await holder.execute(lock, {"key": RELAY_LOCK_KEY})
        async with app.database.begin() as conn:
            assert await outbox.claim_pending(conn, 10, lock_key=RELAY_LOCK_KEY) == []
    async with app.database.begin() as conn:
        claimed = await outbox.claim_pending(conn, 10, lock_key=RELAY_LOCK_KEY)
        assert [e.id for e in claimed] == [e.id for e in events]
        assert await conn.scalar(sa.text("SHOW synchronous_commit")) == "off"
        await conn.rollback()
    async with app.database.connect() as conn:
        assert len(await outbox.pending_events(conn, 10)) == len(events)


async def test_a_commit_wakes_the_relay_long_before_its_interval(
    backend_settings: Settings,
) -> None:
    settings = fast(backend_settings, relay_interval_seconds=30.0)
    app = Venta(settings, load_entry_points=False)
    if not settings.is_sqlite:
        await app.database.start()
        await empty_tables(app)
    try:
        async with app:
            await asyncio.sleep(0.3)  # the relay's first pass (and LISTEN) are done
            await _events(app, 1)
            await wait_until(lambda: _relayed(app), timeout=2.0)
    finally:
        await delete_streams(settings)


async def test_a_starting_relay_publishes_what_waits_at_once(app: Venta) -> None:
    """Rows left in the outbox (a relay stopped, a process restarted after an outage) go out
    as the relay starts, not after its polling interval."""
    await _events(app, 2)
    relay = OutboxRelay(
        app.database,
        app.stream,
        app.settings.model_copy(
            update={
                "events": app.settings.events.model_copy(
                    update={"relay_enabled": True, "relay_interval_seconds": 30.0}
                )
            }
        ),
    )
    await relay.start()
    try:
        await wait_until(lambda: _relayed(app), timeout=2.0)
    finally:
        await relay.stop()


async def _relayed(app: Venta) -> bool:
    async with app.database.connect() as conn:
        unsent = await conn.scalar(
            sa.select(sa.func.count()).where(outbox_table.c.sent_at.is_(None))
        )
    return unsent == 0


async def test_a_pass_cancelled_inside_its_write_ends_cancelled_and_rolled_back(
    app: Venta, caplog: pytest.LogCaptureFixture
) -> None:
    """A short-lived process stops its relay while a pass waits for another writer (SQLite's
    lock held by a second process, a PostgreSQL row lock): the pass ends cancelled, its
    transaction is rolled back, and nothing is logged as failed."""
    events = await _events(app, 1)
    relay_db = Database(app.settings)
    settings = fast(app.settings, relay_enabled=True, relay_interval_seconds=60.0)
    relay = OutboxRelay(relay_db, app.stream, settings)
    marking = asyncio.Event()

    def on_execute(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        # PostgreSQL's claim starts with the advisory lock's CTE: ``WITH ... UPDATE``
        if f"UPDATE {outbox_table.name} SET sent_at" in statement:
            marking.set()

    await relay.start()  # publishes what waits, then waits for a commit or the interval
    await wait_until(lambda: _relayed(app), timeout=5.0)
    async with app.database.begin() as conn:  # pending again, without waking the relay
        await outbox.unmark(conn, list(await conn.scalars(sa.select(outbox_table.c.seq))))
    sa.event.listen(relay_db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        async with app.database.begin() as blocker:  # the other writer
            await blocker.execute(
                outbox_table.update().values(request_id=outbox_table.c.request_id)
            )
            relay_pass = asyncio.create_task(relay.relay_pending())
            await asyncio.wait_for(marking.wait(), timeout=10)
            relay_pass.cancel()
            await asyncio.wait({relay_pass}, timeout=10)
            assert relay_pass.cancelled(), relay_pass.exception()
        assert await relay.relay_pending() == len(events)
    finally:
        await relay.stop()
        await relay_db.stop()
    assert await relay.pending_count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


class FailOnce(Wrapped):
    """An ``EventStream`` whose publish of each message id in ``failing`` fails once, lost
    before the stream (the other messages of the batch go to the stream). ``chains``: whether
    it checks ``expected_last_msg_id`` (as its inner stream does), so the relay chains."""

    def __init__(self, inner: EventStream, failing: set[str], *, chains: bool = True) -> None:
        super().__init__(inner)
        self.failing = failing
        self.batches: list[list[str]] = []
        self.checks_expected_last_msg_id = chains

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        self.batches.append([m.msg_id or "" for m in messages])
        failed = {m.msg_id for m in messages if m.msg_id in self.failing}
        self.failing -= failed
        stored = iter(
            await self.inner.publish_batch(
                [m for m in messages if m.msg_id not in failed], confirm_within
            )
        )
        return [
            ConnectionError("no confirmation") if m.msg_id in failed else next(stored)
            for m in messages
        ]


async def _renamed(app: Venta, vendor_id: str, *names: str) -> None:
    user = await app.users.ensure_user("owner-2")  # the owner of ``_events(app, 2)``
    for name in names:
        await app.vendors.update_vendor(Actor.for_user(user), vendor_id, VendorUpdate(name=name))


async def _two_busy_vendors(app: Venta) -> tuple[str, list[EventEnvelope]]:
    """Vendor A renamed A1, A2 and A3, vendor B renamed B1 in between: A's id and the
    outbox's seven events (the owner, the two vendors, the four renames)."""
    created = await _events(app, 2)
    first, second = (e.data["id"] for e in created[1:])
    await _renamed(app, first, "A1", "A2")
    await _renamed(app, second, "B1")
    await _renamed(app, first, "A3")
    async with app.database.connect() as conn:
        return first, [e for _, e in await outbox.pending_events(conn, 1000)]


def _named(events: list[EventEnvelope], name: str) -> EventEnvelope:
    return next(e for e in events if e.data.get("name") == name)


async def _names_of(app: Venta, vendor_id: str, events: list[EventEnvelope]) -> list[str]:
    """The names ``vendor_id`` had, in the order the stream stores its events (each once)."""
    stored = [EventEnvelope.model_validate_json(m.data) for m in await _stored(app, len(events))]
    assert sorted(e.id for e in stored) == sorted(e.id for e in events)
    return [e.data["name"] for e in stored if e.data.get("id") == vendor_id]


async def test_a_batch_with_several_events_of_a_vendor_goes_out_at_once(app: Venta) -> None:
    first, events = await _two_busy_vendors(app)
    counting = FailOnce(app.stream, set())
    relay = OutboxRelay(app.database, counting, app.settings)  # type: ignore[arg-type]

    assert await relay.relay_pending() == 7

    assert counting.batches == [[e.id for e in events]]  # chained: one round of confirmations
    assert await _names_of(app, first, events) == ["Stall 0", "A1", "A2", "A3"]


async def test_what_a_chain_lost_goes_out_again_in_waves_in_the_same_pass(app: Venta) -> None:
    first, events = await _two_busy_vendors(app)
    a1, a2, b1, a3 = (_named(events, n) for n in ("A1", "A2", "B1", "A3"))
    flaky = FailOnce(app.stream, {a1.id})
    relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]

    assert await relay.relay_pending() == 7

    # A1 was lost, so the stream refused the rest of the chain (A2, B1, A3): neither B1 nor
    # A's later renames overtook it. They went out again in waves: A1 and B1, A2, A3.
    assert flaky.batches[1:] == [[a1.id, b1.id], [a2.id], [a3.id]]
    assert await _names_of(app, first, events) == ["Stall 0", "A1", "A2", "A3"]
    assert await relay.pending_count() == 0


async def test_an_event_the_chain_lost_is_published_again_as_a_child_of_its_request(
    app: Venta,
) -> None:
    with recording_spans() as spans:
        with tracing.provider().get_tracer("test").start_as_current_span("request") as request:
            _, events = await _two_busy_vendors(app)
        a1 = _named(events, "A1")
        flaky = FailOnce(app.stream, {a1.id})
        relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]
        assert await relay.relay_pending() == 7

    subject = f"{app.settings.key_prefix}.events.vendor.updated"
    failed, sent = (
        s
        for s in spans.get_finished_spans()
        if s.name == f"publish {subject}" and (s.attributes or {})["messaging.message.id"] == a1.id
    )
    for span in (failed, sent):
        assert span.parent is not None and span.parent.span_id == request.context.span_id
    assert failed.status.status_code is StatusCode.ERROR
    assert sent.status.status_code is StatusCode.UNSET


async def test_a_chain_the_stream_refused_whole_ends_the_pass(app: Venta) -> None:
    _, events = await _two_busy_vendors(app)
    flaky = Flaky(app.stream)
    relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]
    flaky.down = True

    with pytest.raises(ConnectionError):
        await relay.relay_pending()

    assert flaky.batches == 1  # the chain alone: the stream is not asked again in waves
    assert await relay.pending_count() == len(events)
    flaky.down = False
    assert await relay.relay_pending() == len(events)


class Interloper(Wrapped):
    """An ``EventStream`` into which another publisher writes a message after the first
    message of the relay's first batch."""

    def __init__(self, inner: EventStream, subject: str) -> None:
        super().__init__(inner)
        self.subject = subject
        self.batches = 0

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        self.batches += 1
        if self.batches > 1:
            return await self.inner.publish_batch(messages, confirm_within)
        head = await self.inner.publish_batch(messages[:1], confirm_within)
        await self.inner.publish(OutgoingMessage(self.subject, b"{}", msg_id="interloper"))
        return head + await self.inner.publish_batch(messages[1:], confirm_within)


async def test_a_chain_broken_by_another_publisher_goes_out_again_in_waves(app: Venta) -> None:
    first, events = await _two_busy_vendors(app)
    subject = f"{app.settings.key_prefix}.events.vendor.replayed"
    interloper = Interloper(app.stream, subject)
    relay = OutboxRelay(app.database, interloper, app.settings)  # type: ignore[arg-type]

    assert await relay.relay_pending() == 7

    assert interloper.batches == 5  # the chain, then four waves of what it did not store
    stored = await _stored(app, 8)
    assert [m.headers["Nats-Msg-Id"] for m in stored][:2] == [events[0].id, "interloper"]
    envelopes = [EventEnvelope.model_validate_json(m.data) for m in stored[:1] + stored[2:]]
    assert sorted(e.id for e in envelopes) == sorted(e.id for e in events)  # each once
    of_first = [e.data["name"] for e in envelopes if e.data.get("id") == first]
    assert of_first == ["Stall 0", "A1", "A2", "A3"]


async def test_a_failed_publish_holds_back_the_later_events_of_its_vendor(app: Venta) -> None:
    """On a stream that does not check the last message id, a batch goes out in waves."""
    first, events = await _two_busy_vendors(app)
    a1 = _named(events, "A1")
    flaky = FailOnce(app.stream, {a1.id}, chains=False)
    relay = OutboxRelay(app.database, flaky, app.settings)  # type: ignore[arg-type]

    with pytest.raises(ConnectionError):
        await relay.relay_pending()
    # A1 failed: it and the later events of its vendor (A2, A3) wait; B1 went out.
    # waves: the first event of each subject, then A1 and B1; A2 and A3 were never sent
    assert [len(batch) for batch in flaky.batches] == [3, 2]
    async with app.database.connect() as conn:
        waiting = [e.data["name"] for _, e in await outbox.pending_events(conn, 1000)]
    assert waiting == ["A1", "A2", "A3"]

    assert await relay.relay_pending() == 3
    assert await _names_of(app, first, events) == ["Stall 0", "A1", "A2", "A3"]
    assert await relay.pending_count() == 0
