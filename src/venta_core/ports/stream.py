"""Event stream port: durable, replayable messages with pull consumers (JetStream semantics).

Unlike the core bus (at most once, only to whoever listens now), a stream stores every message
it accepts, drops a second message with the same id inside the duplicate window, and hands
messages to *durable consumers* that remember their position across restarts. A consumer's
message must be settled: ``ack`` (done), ``nak`` (deliver again, optionally after a delay) or
``term`` (never again). A message neither acked nor reported ``in_progress`` within the
consumer's ``ack_wait`` is delivered again, which is how a worker that died mid-event loses
nothing. Deliveries of one message stop after ``max_deliver``.

A message may name the message it must follow (``expected_last_msg_id``, JetStream's
``Nats-Expected-Last-Msg-Id``): it is stored only if the stream's last message has that id,
else refused with ``WrongLastMessageError``. Chaining each message of a pipelined batch to the
one before makes what the stream stores of the batch a prefix of it: a lost message cannot be
overtaken by a later one. A port that checks this says so with a true
``checks_expected_last_msg_id`` attribute; one without it is never sent such messages.

Implementations: ``MemoryEventStream`` (in-process, the embedded default) and
``JetStreamEventStream`` (NATS JetStream). Both pass ``tests/events/test_stream_contract.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "ConsumerSpec",
    "ConsumerState",
    "EventStream",
    "NoStreamError",
    "OutgoingMessage",
    "PublishAck",
    "StreamConsumer",
    "StreamMessage",
    "StreamSpec",
    "WrongLastMessageError",
]


class NoStreamError(LookupError):
    """No stream stores the subject a message was published on."""


class WrongLastMessageError(RuntimeError):
    """Not stored: the stream's last message is not the one ``expected_last_msg_id`` names."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream to create, or to update when it exists with other settings."""

    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "interest", "workqueue"] = "limits"
    storage: Literal["file", "memory"] = "file"
    max_age_seconds: float = 0.0  # 0: no limit
    max_msgs: int = -1
    max_bytes: int = -1
    replicas: int = 1
    duplicate_window_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A durable pull consumer of the stream holding ``filter_subject``."""

    durable: str
    filter_subject: str
    ack_wait_seconds: float = 30.0
    max_deliver: int = -1  # -1: no limit
    max_ack_pending: int = 1000


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """``expected_last_msg_id``: store only after the message of that id (see the module
    docstring); only for ports whose ``checks_expected_last_msg_id`` is true."""

    subject: str
    data: bytes
    msg_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    expected_last_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class PublishAck:
    stream: str
    seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """``pending``: stored but not yet delivered; ``ack_pending``: delivered, not settled;
    ``redelivered``: delivered more than once and not settled yet."""

    pending: int
    ack_pending: int
    redelivered: int

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


class StreamMessage(Protocol):
    """One delivery of a stored message; settle it exactly once."""

    @property
    def subject(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def seq(self) -> int:
        """Sequence number in the stream."""
        ...

    @property
    def delivery(self) -> int:
        """1 on the first delivery, 2 on the first redelivery, ..."""
        ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None:
        """Deliver again, after ``delay`` seconds when given."""
        ...

    async def term(self) -> None:
        """Never deliver again (after dead-lettering it, for instance)."""
        ...

    async def in_progress(self) -> None:
        """Still working on it: restart the ``ack_wait`` clock."""
        ...


class StreamConsumer(Protocol):
    durable: str

    async def fetch(self, batch: int, max_wait: float) -> list[StreamMessage]:
        """Up to ``batch`` messages, waiting at most ``max_wait`` seconds for the first one;
        an empty list when none came. Raises ``ConnectionError`` when the stream is
        unreachable."""
        ...

    async def state(self) -> ConsumerState: ...

    async def close(self) -> None:
        """Stop fetching. The durable position stays; unsettled messages are redelivered."""
        ...


class EventStream(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def ensure_stream(self, spec: StreamSpec) -> None:
        """Create the stream, or bring an existing one to ``spec``."""
        ...

    async def publish(self, message: OutgoingMessage, confirm_within: float = 5.0) -> PublishAck:
        """Store one message; a repeated ``msg_id`` within the duplicate window is dropped
        (``duplicate=True``). Raises ``ConnectionError``/``TimeoutError`` when not stored."""
        ...

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        """Store several messages in order, pipelined; one result per message, in order."""
        ...

    async def consumer(self, spec: ConsumerSpec) -> StreamConsumer:
        """Create or update the durable consumer ``spec.durable`` and bind to it."""
        ...

    async def delete_consumer(self, durable: str, filter_subject: str) -> bool:
        """Delete the durable consumer ``durable`` of the stream storing ``filter_subject``;
        whether there was one."""
        ...
