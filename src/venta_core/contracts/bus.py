"""The ``EventBus`` contract: NATS subject rules (``*``, ``>``), queue groups, headers, and
handlers that fail without losing their subscription.

Subclass ``EventBusContract`` in a test module and provide a ``bus`` fixture yielding a started
bus. Each test publishes under ``subject_root``, a fresh subject token per test; override that
fixture to choose the root yourself::

    class TestMyBus(EventBusContract):
        @pytest.fixture
        async def bus(self) -> AsyncIterator[EventBus]:
            bus = MyBus(...)
            await bus.start()
            yield bus
            await bus.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from venta_core.ports.bus import BusMessage, EventBus, Handler

__all__ = ["EventBusContract", "collector", "eventually", "settle"]


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``condition()`` holds (delivery over NATS is asynchronous), or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def collector() -> tuple[list[BusMessage], Handler]:
    got: list[BusMessage] = []

    async def handler(message: BusMessage) -> None:
        got.append(message)

    return got, handler


async def settle(bus: EventBus) -> None:
    """Let stray deliveries arrive before asserting that nothing more came."""
    await bus.flush()
    await asyncio.sleep(0.1)


class EventBusContract:
    """The event bus contract; needs a ``bus`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def subject_root(self) -> str:
        """A subject token no other test (or parallel run) publishes under."""
        return f"contract_{uuid.uuid4().hex[:12]}"

    async def test_wildcards(self, bus: EventBus, subject_root: str) -> None:
        r = subject_root
        star_got, star = collector()
        tail_got, tail = collector()
        mid_got, mid = collector()
        exact_got, exact = collector()
        await bus.subscribe(f"{r}.live.*", star)
        await bus.subscribe(f"{r}.live.>", tail)
        await bus.subscribe(f"{r}.*.u33", mid)
        await bus.subscribe(f"{r}.live.u33", exact)
        for subject in (f"{r}.live.u33", f"{r}.live.u33.v1", f"{r}.other.u33", f"{r}.live"):
            await bus.publish(subject, b"x")
        await eventually(lambda: len(tail_got) == 2 and len(mid_got) == 2)
        await settle(bus)
        assert [m.subject for m in star_got] == [f"{r}.live.u33"]
        assert [m.subject for m in tail_got] == [f"{r}.live.u33", f"{r}.live.u33.v1"]
        assert [m.subject for m in mid_got] == [f"{r}.live.u33", f"{r}.other.u33"]
        assert [m.subject for m in exact_got] == [f"{r}.live.u33"]

    async def test_queue_group_delivers_each_message_once(
        self, bus: EventBus, subject_root: str
    ) -> None:
        members = [collector() for _ in range(3)]
        for _, handler in members:
            await bus.subscribe(f"{subject_root}.jobs.*", handler, queue="workers")
        other_group, other_handler = collector()
        await bus.subscribe(f"{subject_root}.jobs.*", other_handler, queue="audit")
        everyone, everyone_handler = collector()
        await bus.subscribe(f"{subject_root}.jobs.*", everyone_handler)
        sent = [str(i).encode() for i in range(30)]
        for data in sent:
            await bus.publish(f"{subject_root}.jobs.run", data)
        await eventually(lambda: sum(len(got) for got, _ in members) == 30 and len(everyone) == 30)
        await settle(bus)
        in_group = Counter(m.data for got, _ in members for m in got)
        assert in_group == Counter(sent)  # each message exactly once within the group
        assert [m.data for m in other_group] == sent  # another group gets its own copy
        assert [m.data for m in everyone] == sent  # a plain subscriber gets all, in order

    async def test_headers_and_payload_arrive_intact(
        self, bus: EventBus, subject_root: str
    ) -> None:
        got, handler = collector()
        await bus.subscribe(f"{subject_root}.events.>", handler)
        headers = {"X-Request-ID": "req-42", "Nats-Msg-Id": "e7"}
        await bus.publish(f"{subject_root}.events.vendor.created", b'{"id": 1}\x00\xff', headers)
        await bus.publish(f"{subject_root}.events.plain", b"")
        await eventually(lambda: len(got) == 2)
        assert got[0].data == b'{"id": 1}\x00\xff'
        assert dict(got[0].headers) == headers
        assert got[1].data == b"" and dict(got[1].headers) == {}

    async def test_a_failing_handler_keeps_its_subscription(
        self, bus: EventBus, subject_root: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        seen: list[bytes] = []

        async def flaky(message: BusMessage) -> None:
            seen.append(message.data)
            if message.data == b"boom":
                raise RuntimeError("handler broke")

        await bus.subscribe(f"{subject_root}.flaky", flaky)
        with caplog.at_level(logging.ERROR):
            for data in (b"boom", b"after", b"boom", b"last"):
                await bus.publish(f"{subject_root}.flaky", data)
            await eventually(lambda: len(seen) == 4)
        assert seen == [b"boom", b"after", b"boom", b"last"]
        failures = [
            r for r in caplog.records if r.exc_info and "handler broke" in str(r.exc_info[1])
        ]
        assert len(failures) == 2

    async def test_unsubscribe_stops_delivery(self, bus: EventBus, subject_root: str) -> None:
        got, handler = collector()
        kept, kept_handler = collector()
        sub = await bus.subscribe(f"{subject_root}.u", handler)
        await bus.subscribe(f"{subject_root}.u", kept_handler)
        await bus.publish(f"{subject_root}.u", b"1")
        await eventually(lambda: len(got) == 1)
        await sub.unsubscribe()
        await sub.unsubscribe()  # harmless twice
        await bus.publish(f"{subject_root}.u", b"2")
        await eventually(lambda: len(kept) == 2)
        await settle(bus)
        assert [m.data for m in got] == [b"1"]

    async def test_flush_and_check(self, bus: EventBus, subject_root: str) -> None:
        got, handler = collector()
        await bus.subscribe(f"{subject_root}.f", handler)
        for i in range(100):
            await bus.publish(f"{subject_root}.f", str(i).encode())
        await bus.flush()
        await bus.check()
        await eventually(lambda: len(got) == 100)
        assert [int(m.data) for m in got] == list(range(100))

    async def test_malformed_subjects_are_refused(self, bus: EventBus, subject_root: str) -> None:
        _, handler = collector()
        for subject in ("", f"{subject_root}.a b", f"{subject_root}.*", f"{subject_root}..x"):
            with pytest.raises(ValueError):
                await bus.publish(subject, b"x")
        for pattern in (f"{subject_root}.>.x", f"{subject_root}.a*", f"{subject_root}..x", " "):
            with pytest.raises(ValueError):
                await bus.subscribe(pattern, handler)
