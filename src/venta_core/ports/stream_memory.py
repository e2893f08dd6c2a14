"""In-process event stream with the semantics of JetStream, for the embedded default and tests.

What it keeps from JetStream: streams selected by subject, message ids deduplicated within the
duplicate window, publishes expecting a last message id, durable pull consumers whose
position survives closing and re-binding (in this process), explicit ack / nak with delay /
term / in-progress, redelivery after ``ack_wait``, ``max_deliver``, ``max_msgs`` and
``max_age`` limits (oldest dropped).
What it does not: persistence across processes, and retention other than ``limits`` (the
``interest`` and ``workqueue`` policies keep messages like ``limits`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from venta_core.ports.bus import subject_matches
from venta_core.ports.bus_memory import validate_subject
from venta_core.ports.stream import (
    ConsumerSpec,
    ConsumerState,
    NoStreamError,
    OutgoingMessage,
    PublishAck,
    StreamMessage,
    StreamSpec,
    WrongLastMessageError,
)

__all__ = ["MemoryEventStream"]


@dataclass(frozen=True, slots=True)
class _Stored:
    seq: int
    subject: str
    data: bytes
    headers: Mapping[str, str]
    at: float


@dataclass(slots=True)
class _Stream:
    spec: StreamSpec
    max_msgs: int
    messages: deque[_Stored] = field(default_factory=deque)
    last_seq: int = 0
    ids: dict[str, tuple[int, float]] = field(default_factory=dict)  # msg id -> (seq, at)
    last_msg_id: str | None = None  # the id of the last message stored, if it had one
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def captures(self, subject: str) -> bool:
        return any(subject_matches(p, subject) for p in self.spec.subjects)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def trim(self, now: float) -> None:
        max_age = self.spec.max_age_seconds
        while self.messages and (
            len(self.messages) > self.max_msgs
            or (max_age > 0 and now - self.messages[0].at > max_age)
        ):
            self.messages.popleft()
        window = self.spec.duplicate_window_seconds
        while self.ids:  # insertion order is age order: drop the expired ones from the front
            oldest = next(iter(self.ids))
            if now - self.ids[oldest][1] <= window:
                break
            del self.ids[oldest]

    def get(self, seq: int) -> _Stored | None:
        if not self.messages or seq < self.messages[0].seq or seq > self.last_seq:
            return None
        stored = self.messages[seq - self.messages[0].seq]
        return stored if stored.seq == seq else None


@dataclass(slots=True)
class _Durable:
    """A consumer's position, kept by the stream so it outlives the consumer object."""

    spec: ConsumerSpec
    stream: _Stream
    next_seq: int = 1
    inflight: dict[int, tuple[int, float]] = field(default_factory=dict)  # seq -> (n, deadline)
    retry: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, seq)
    deliveries: dict[int, int] = field(default_factory=dict)  # seq -> deliveries so far

    def wants(self, stored: _Stored) -> bool:
        return subject_matches(self.spec.filter_subject, stored.subject)

    def expire(self, now: float) -> None:
        for seq, (_, deadline) in list(self.inflight.items()):
            if deadline <= now:
                del self.inflight[seq]
                self.schedule(seq, now)

    def schedule(self, seq: int, due: float) -> None:
        limit = self.spec.max_deliver
        if limit > 0 and self.deliveries.get(seq, 0) >= limit:
            self.deliveries.pop(seq, None)
            return
        heapq.heappush(self.retry, (due, seq))

    def next_wake(self, now: float) -> float | None:
        times = [d for _, d in self.inflight.values()]
        if self.retry:
            times.append(self.retry[0][0])
        return min(times) - now if times else None

    def take(self, batch: int, now: float) -> list[tuple[_Stored, int]]:
        out: list[tuple[_Stored, int]] = []
        while self.retry and self.retry[0][0] <= now and len(out) < batch:
            _, seq = heapq.heappop(self.retry)
            stored = self.stream.get(seq)
            if stored is not None:
                out.append((stored, self._deliver(seq, now)))
            else:
                self.deliveries.pop(seq, None)
        first = self.stream.messages[0].seq if self.stream.messages else self.stream.last_seq + 1
        self.next_seq = max(self.next_seq, first)
        room = self.spec.max_ack_pending - len(self.inflight)
        while len(out) < batch and room > 0 and self.next_seq <= self.stream.last_seq:
            stored = self.stream.get(self.next_seq)
            self.next_seq += 1
            if stored is not None and self.wants(stored):
                out.append((stored, self._deliver(stored.seq, now)))
                room -= 1
        return out

    def _deliver(self, seq: int, now: float) -> int:
        n = self.deliveries.get(seq, 0) + 1
        self.deliveries[seq] = n
        self.inflight[seq] = (n, now + self.spec.ack_wait_seconds)
        return n

    def settle(self, seq: int, delivery: int, *, retry_after: float | None = None) -> None:
        current = self.inflight.get(seq)
        if current is None or current[0] != delivery:
            return  # a stale delivery (already redelivered): ignored, as JetStream does
        del self.inflight[seq]
        if retry_after is None:
            self.deliveries.pop(seq, None)
        else:
            self.schedule(seq, time.monotonic() + retry_after)
        self.stream.notify()

    def touch(self, seq: int, delivery: int) -> None:
        current = self.inflight.get(seq)
        if current is not None and current[0] == delivery:
            self.inflight[seq] = (delivery, time.monotonic() + self.spec.ack_wait_seconds)


class _Message:
    def __init__(self, durable: _Durable, stored: _Stored, delivery: int) -> None:
        self._durable = durable
        self._stored = stored
        self._delivery = delivery

    @property
    def subject(self) -> str:
        return self._stored.subject

    @property
    def data(self) -> bytes:
        return self._stored.data

    @property
    def headers(self) -> Mapping[str, str]:
        return self._stored.headers

    @property
    def seq(self) -> int:
        return self._stored.seq

    @property
    def delivery(self) -> int:
        return self._delivery

    async def ack(self) -> None:
        self._durable.settle(self.seq, self._delivery)

    async def nak(self, delay: float | None = None) -> None:
        self._durable.settle(self.seq, self._delivery, retry_after=max(0.0, delay or 0.0))

    async def term(self) -> None:
        self._durable.settle(self.seq, self._delivery)

    async def in_progress(self) -> None:
        self._durable.touch(self.seq, self._delivery)


class _Consumer:
    def __init__(self, durable: _Durable) -> None:
        self.durable = durable.spec.durable
        self._state = durable
        self._closed = False

    async def fetch(self, batch: int, max_wait: float) -> list[StreamMessage]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        end = time.monotonic() + max_wait
        while not self._closed:
            now = time.monotonic()
            durable = self._state
            durable.expire(now)
            taken = durable.take(batch, now)
            if taken:
                return [_Message(durable, stored, n) for stored, n in taken]
            wait = end - now
            if wait <= 0:
                break
            wake = durable.next_wake(now)
            if wake is not None:
                wait = min(wait, max(wake, 0.001))
            changed = durable.stream.changed
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: in 3.11 wait_for loses a cancellation that
                # arrives as the event is set, and the consumer's task would never stop.
                async with asyncio.timeout(wait):
                    await changed.wait()
        return []

    async def state(self) -> ConsumerState:
        durable = self._state
        durable.expire(time.monotonic())
        stream = durable.stream
        first = stream.messages[0].seq if stream.messages else stream.last_seq + 1
        waiting = (
            stream.get(seq) for seq in range(max(durable.next_seq, first), stream.last_seq + 1)
        )
        pending = sum(1 for m in waiting if m is not None and durable.wants(m))
        unsettled = set(durable.inflight) | {seq for _, seq in durable.retry}
        redelivered = sum(1 for seq in unsettled if durable.deliveries.get(seq, 0) > 1)
        return ConsumerState(pending, len(unsettled), redelivered)

    async def close(self) -> None:
        self._closed = True
        self._state.stream.notify()


class MemoryEventStream:
    """``EventStream`` in one process (see the module docstring)."""

    name = "stream"
    checks_expected_last_msg_id = True

    def __init__(self, specs: Sequence[StreamSpec] = (), *, max_msgs: int = 100_000) -> None:
        """``specs``: streams ensured at ``start``; ``max_msgs`` caps every stream's size."""
        self._specs = tuple(specs)
        self._max_msgs = max_msgs
        self._streams: dict[str, _Stream] = {}
        self._durables: dict[tuple[str, str], _Durable] = {}

    async def start(self) -> None:
        for spec in self._specs:
            await self.ensure_stream(spec)

    async def stop(self) -> None:
        for stream in self._streams.values():
            stream.notify()

    async def check(self) -> None:
        return None

    async def ensure_stream(self, spec: StreamSpec) -> None:
        for subject in spec.subjects:
            validate_subject(subject, pattern=True)
        limit = self._max_msgs if spec.max_msgs < 0 else min(spec.max_msgs, self._max_msgs)
        existing = self._streams.get(spec.name)
        if existing is None:
            self._streams[spec.name] = _Stream(spec, limit)
        else:
            existing.spec, existing.max_msgs = spec, limit
            existing.trim(time.monotonic())

    async def publish(self, message: OutgoingMessage, confirm_within: float = 5.0) -> PublishAck:
        validate_subject(message.subject, pattern=False)
        stream = next((s for s in self._streams.values() if s.captures(message.subject)), None)
        if stream is None:
            raise NoStreamError(f"no stream stores subject {message.subject!r}")
        now = time.monotonic()
        stream.trim(now)
        if message.msg_id is not None:
            known = stream.ids.get(message.msg_id)
            if known is not None and now - known[1] <= stream.spec.duplicate_window_seconds:
                return PublishAck(stream.spec.name, known[0], duplicate=True)
        expected = message.expected_last_msg_id
        if expected is not None and expected != stream.last_msg_id:
            raise WrongLastMessageError(f"the last message of {stream.spec.name} is not {expected}")
        stream.last_seq += 1
        stream.last_msg_id = message.msg_id
        headers = dict(message.headers)
        if message.msg_id is not None:
            headers["Nats-Msg-Id"] = message.msg_id
            stream.ids[message.msg_id] = (stream.last_seq, now)
        stored = _Stored(
            stream.last_seq, message.subject, bytes(message.data), MappingProxyType(headers), now
        )
        stream.messages.append(stored)
        stream.trim(now)
        stream.notify()
        return PublishAck(stream.spec.name, stored.seq)

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        results: list[PublishAck | Exception] = []
        for message in messages:
            try:
                results.append(await self.publish(message, confirm_within))
            except Exception as exc:
                results.append(exc)
        return results

    async def consumer(self, spec: ConsumerSpec) -> _Consumer:
        validate_subject(spec.filter_subject, pattern=True)
        stream = next(
            (
                s
                for s in self._streams.values()
                if any(_overlaps(p, spec.filter_subject) for p in s.spec.subjects)
            ),
            None,
        )
        if stream is None:
            raise NoStreamError(f"no stream stores subject {spec.filter_subject!r}")
        key = (stream.spec.name, spec.durable)
        durable = self._durables.get(key)
        if durable is None or durable.stream is not stream:
            durable = _Durable(spec, stream)
            self._durables[key] = durable
        else:
            durable.spec = spec
        return _Consumer(durable)

    async def delete_consumer(self, durable: str, filter_subject: str) -> bool:
        keys = [
            key
            for key, known in self._durables.items()
            if key[1] == durable
            and any(_overlaps(p, filter_subject) for p in known.stream.spec.subjects)
        ]
        for key in keys:
            del self._durables[key]
        return bool(keys)


def _overlaps(stream_pattern: str, filter_subject: str) -> bool:
    """Whether a consumer filter selects messages of a stream subject pattern (the filter is
    equal to or narrower than the pattern, as JetStream requires)."""
    literal = filter_subject.replace(">", "x").replace("*", "x")
    return subject_matches(stream_pattern, literal) or stream_pattern == filter_subject
