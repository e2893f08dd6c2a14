"""The ``EventStream`` contract: durable storage, de-duplication by message id, and durable
pull consumers with ack, nak (with delay), term, in-progress and redelivery after ``ack_wait``.

Subclass ``EventStreamContract`` in a test module and provide a ``streams`` fixture yielding a
``StreamUnderTest``: a started stream that stores the two streams of
``StreamUnderTest.specs(root)`` (``<root>.events.>`` and ``<root>.dlq.>``), for a ``root`` no
other test uses::

    class TestMyStream(EventStreamContract):
        @pytest.fixture
        async def streams(self) -> AsyncIterator[StreamUnderTest]:
            root = new_root()
            events, dlq = StreamUnderTest.specs(root)
            stream = MyStream([events, dlq])
            await stream.start()
            yield StreamUnderTest(stream, root, events, dlq)
            await stream.stop()  # and delete both streams, if they outlive the process
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import pytest

from venta_core.ports.stream import (
    ConsumerSpec,
    EventStream,
    NoStreamError,
    OutgoingMessage,
    PublishAck,
    StreamConsumer,
    StreamMessage,
    StreamSpec,
    WrongLastMessageError,
)

__all__ = [
    "EventStreamContract",
    "StreamUnderTest",
    "consumer_spec",
    "fetch_all",
    "new_root",
    "next_delivery",
    "out",
]


def new_root(prefix: str = "ct") -> str:
    """A subject root (one token) no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class StreamUnderTest:
    """What a contract test publishes on: ``root.events.*`` and ``root.dlq.*``."""

    stream: EventStream
    root: str
    events: StreamSpec
    dlq: StreamSpec

    @staticmethod
    def specs(root: str) -> tuple[StreamSpec, StreamSpec]:
        """The event stream and the dead-letter stream of ``root``, named after it."""
        name = root.upper()
        events = StreamSpec(name=name, subjects=(f"{root}.events.>",), storage="memory")
        dlq = StreamSpec(name=f"{name}_DLQ", subjects=(f"{root}.dlq.>",), storage="memory")
        return events, dlq


def out(
    root: str, n: int, *, msg_id: str | None = None, type_: str = "vendor.created"
) -> OutgoingMessage:
    return OutgoingMessage(
        f"{root}.events.{type_}",
        f"m{n}".encode(),
        msg_id=msg_id or f"id-{n}",
        headers={"X-N": str(n)},
    )


def consumer_spec(s: StreamUnderTest, name: str = "c", **overrides: Any) -> ConsumerSpec:
    """A durable consumer of ``s``'s events (quick ``ack_wait``), with ``overrides``."""
    spec = ConsumerSpec(
        durable=name, filter_subject=f"{s.root}.events.>", ack_wait_seconds=1.0, max_deliver=5
    )
    return replace(spec, **overrides)


async def fetch_all(
    consumer: StreamConsumer, expected: int, wait: float = 3.0
) -> list[StreamMessage]:
    """Fetch until ``expected`` messages came (or ``wait`` seconds passed)."""
    got: list[StreamMessage] = []
    deadline = time.monotonic() + wait
    while len(got) < expected and time.monotonic() < deadline:
        got += await consumer.fetch(expected - len(got), 0.5)
    return got


async def next_delivery(
    consumer: StreamConsumer, first: StreamMessage, wait: float = 5.0
) -> StreamMessage:
    """The next message other than a repeat of ``first``'s own delivery. On a loaded machine a
    pull request can outlive its client-side timeout and hand the same delivery over once more
    (same sequence, same delivery count): that is not a redelivery, so it is passed over."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for message in await consumer.fetch(1, 0.5):
            if (message.seq, message.delivery) != (first.seq, first.delivery):
                return message
    raise AssertionError(f"no further delivery within {wait} s")


#: Consumers polling an idle stream at once, and the polls of each. nats-py ends an idle batch
#: fetch with its own TimeoutError or, when the server's "request timeout" status beats the
#: client's timer (some polls in a hundred with several consumers on one connection), with the
#: builtin one: an ``OSError`` since Python 3.11.
IDLE_CONSUMERS, IDLE_POLLS = 10, 80


class EventStreamContract:
    """The event stream contract; needs a ``streams`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    async def test_messages_come_in_order_with_headers(self, streams: StreamUnderTest) -> None:
        acks = [await streams.stream.publish(out(streams.root, n)) for n in range(5)]
        consumer = await streams.stream.consumer(consumer_spec(streams))

        got = await fetch_all(consumer, 5)

        assert [m.data for m in got] == [f"m{n}".encode() for n in range(5)]
        assert [m.seq for m in got] == [a.seq for a in acks]
        assert got[0].headers["X-N"] == "0" and got[0].headers["Nats-Msg-Id"] == "id-0"
        assert {m.delivery for m in got} == {1}
        for m in got:
            await m.ack()
        await asyncio.sleep(0.1)
        state = await consumer.state()
        assert (state.pending, state.ack_pending) == (0, 0)
        await consumer.close()

    async def test_a_repeated_message_id_is_stored_once(self, streams: StreamUnderTest) -> None:
        first = await streams.stream.publish(out(streams.root, 1, msg_id="same"))
        again = await streams.stream.publish(out(streams.root, 2, msg_id="same"))

        assert not first.duplicate and again.duplicate and again.seq == first.seq
        consumer = await streams.stream.consumer(consumer_spec(streams, ack_wait_seconds=5.0))
        got = await fetch_all(consumer, 2, wait=1.0)
        assert [m.data for m in got] == [b"m1"]
        await consumer.close()

    async def test_a_subject_no_stream_stores_is_refused(self, streams: StreamUnderTest) -> None:
        with pytest.raises(NoStreamError):
            await streams.stream.publish(OutgoingMessage(f"{streams.root}.nowhere.x", b"x"))

    async def test_batches_are_stored_in_order_with_one_result_each(
        self, streams: StreamUnderTest
    ) -> None:
        messages = [out(streams.root, n) for n in range(3)]
        messages.insert(1, OutgoingMessage(f"{streams.root}.nowhere.x", b"x", msg_id="lost"))

        results = await streams.stream.publish_batch(messages)

        assert [type(r) for r in results] == [PublishAck, NoStreamError, PublishAck, PublishAck]
        seqs = [r.seq for r in results if isinstance(r, PublishAck)]
        assert seqs == sorted(seqs)

    async def test_a_chained_batch_is_stored_up_to_its_first_break(
        self, streams: StreamUnderTest
    ) -> None:
        if not getattr(streams.stream, "checks_expected_last_msg_id", False):
            pytest.skip("the port does not check expected_last_msg_id")
        await streams.stream.publish(out(streams.root, 0))

        def after(n: int, last: str) -> OutgoingMessage:
            return replace(out(streams.root, n), expected_last_msg_id=last)

        linked = await streams.stream.publish_batch([after(1, "id-0"), after(2, "id-1")])
        broken = await streams.stream.publish_batch([after(3, "id-1"), after(4, "id-3")])
        mended = await streams.stream.publish(after(3, "id-2"))

        assert [type(r) for r in linked] == [PublishAck, PublishAck]
        assert [type(r) for r in broken] == [WrongLastMessageError, WrongLastMessageError]
        consumer = await streams.stream.consumer(consumer_spec(streams, ack_wait_seconds=5.0))
        got = await fetch_all(consumer, 4)
        assert [m.data for m in got] == [b"m0", b"m1", b"m2", b"m3"]
        assert got[-1].seq == mended.seq
        await consumer.close()

    async def test_nak_with_delay_redelivers_later(self, streams: StreamUnderTest) -> None:
        await streams.stream.publish(out(streams.root, 1))
        consumer = await streams.stream.consumer(consumer_spec(streams, ack_wait_seconds=5.0))
        (first,) = await fetch_all(consumer, 1)

        await first.nak(0.3)
        started = time.monotonic()
        again = await next_delivery(consumer, first)

        assert time.monotonic() - started >= 0.2
        assert again.seq == first.seq and again.delivery == 2
        await again.ack()
        await consumer.close()

    async def test_an_unsettled_message_is_redelivered_after_ack_wait(
        self, streams: StreamUnderTest
    ) -> None:
        await streams.stream.publish(out(streams.root, 1))
        # ack_wait is not a multiple of next_delivery's 0.5 s pulls: nats-server 2.9 can
        # count a redelivery that falls due just as the pull request waiting for it expires
        # without sending it (the next one then arrives as delivery 3), with nats-py's own
        # fetch as with venta's.
        consumer = await streams.stream.consumer(consumer_spec(streams, ack_wait_seconds=0.7))
        (first,) = await fetch_all(consumer, 1)

        again = await next_delivery(consumer, first)  # never settled: back after ack_wait

        assert again.seq == first.seq and again.delivery == 2
        await again.ack()
        await consumer.close()

    async def test_in_progress_keeps_a_slow_message(self, streams: StreamUnderTest) -> None:
        await streams.stream.publish(out(streams.root, 1))
        consumer = await streams.stream.consumer(consumer_spec(streams, ack_wait_seconds=0.6))
        (first,) = await fetch_all(consumer, 1)

        for _ in range(3):
            await asyncio.sleep(0.3)
            await first.in_progress()
        early = await consumer.fetch(1, 0.2)
        await first.ack()

        assert early == []
        await consumer.close()

    async def test_term_and_max_deliver_stop_redelivery(self, streams: StreamUnderTest) -> None:
        await streams.stream.publish(out(streams.root, 1))
        await streams.stream.publish(out(streams.root, 2))
        consumer = await streams.stream.consumer(
            consumer_spec(streams, ack_wait_seconds=0.3, max_deliver=2)
        )
        first, second = await fetch_all(consumer, 2)
        await first.term()
        await second.nak()
        (again,) = await fetch_all(consumer, 1)  # second, delivery 2 of 2, left unsettled

        assert again.seq == second.seq and again.delivery == 2
        assert await consumer.fetch(1, 1.0) == []
        await consumer.close()

    async def test_a_durable_consumer_resumes_where_it_stopped(
        self, streams: StreamUnderTest
    ) -> None:
        for n in range(4):
            await streams.stream.publish(out(streams.root, n))
        consumer = await streams.stream.consumer(consumer_spec(streams, name="resume"))
        for m in await fetch_all(consumer, 2):
            await m.ack()
        await consumer.close()
        await streams.stream.publish(out(streams.root, 4))

        again = await streams.stream.consumer(consumer_spec(streams, name="resume"))
        rest = await fetch_all(again, 3)

        assert [m.data for m in rest] == [b"m2", b"m3", b"m4"]
        for m in rest:
            await m.ack()
        await again.close()

    async def test_consumers_are_independent_and_filtered(self, streams: StreamUnderTest) -> None:
        await streams.stream.publish(out(streams.root, 1, type_="vendor.created"))
        await streams.stream.publish(out(streams.root, 2, type_="user.created"))
        vendors = await streams.stream.consumer(
            consumer_spec(
                streams,
                name="vendors",
                filter_subject=f"{streams.root}.events.vendor.*",
                ack_wait_seconds=5.0,
            )
        )
        everything = await streams.stream.consumer(
            consumer_spec(streams, name="all", ack_wait_seconds=5.0)
        )

        got_vendors = await fetch_all(vendors, 2, wait=1.0)
        got_all = await fetch_all(everything, 2)

        assert [m.data for m in got_vendors] == [b"m1"]
        assert [m.data for m in got_all] == [b"m1", b"m2"]
        state = await everything.state()
        assert state.ack_pending == 2
        await vendors.close()
        await everything.close()

    async def test_the_dead_letter_stream_is_a_stream_too(self, streams: StreamUnderTest) -> None:
        parked = OutgoingMessage(f"{streams.root}.dlq.vendor.created", b"bad", msg_id="d1")
        await streams.stream.publish(parked, confirm_within=2.0)
        reader = await streams.stream.consumer(
            consumer_spec(streams, name="dlq", filter_subject=f"{streams.root}.dlq.>")
        )

        (got,) = await fetch_all(reader, 1)

        assert got.data == b"bad" and got.subject.endswith(".dlq.vendor.created")
        await reader.close()

    async def test_an_idle_fetch_returns_nothing_however_it_times_out(
        self, streams: StreamUnderTest
    ) -> None:
        consumers = [
            await streams.stream.consumer(consumer_spec(streams, name=f"idle{n}"))
            for n in range(IDLE_CONSUMERS)
        ]

        async def poll(consumer: StreamConsumer) -> list[list[StreamMessage]]:
            return [await consumer.fetch(8, 0.02) for _ in range(IDLE_POLLS)]

        polls = await asyncio.gather(*(poll(c) for c in consumers))
        await streams.stream.publish(out(streams.root, 1))
        got = [await fetch_all(c, 1) for c in consumers]

        assert [p for p in polls if any(p)] == []
        assert [[m.data for m in g] for g in got] == [[b"m1"]] * IDLE_CONSUMERS
        for consumer, (message,) in zip(consumers, got, strict=True):
            await message.ack()
            await consumer.close()
