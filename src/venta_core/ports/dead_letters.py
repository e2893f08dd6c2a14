"""Dead letters on JetStream: list them, replay them into the event stream, purge them.

The worker parks an event it cannot handle in the dead-letter stream (``<stream>_DLQ``,
subjects ``<prefix>.dlq.<type>``) with its original bytes and headers, plus the
``Venta-Dlq-*`` headers of ``venta_core.events.DLQ_HEADERS``. ``DeadLetterQueue`` works on that
stream through a nats-py JetStream context (``NatsEventBus(url).nc.jetstream()``); the stream
names come from ``venta_core.relay.stream_name`` and ``dlq_stream_name``.

Replaying publishes the original bytes again on the original subject, into the event stream,
so every consumer of that subject gets the event again, and deletes the dead letter only once
the event stream confirmed the publish. Only the original's own headers go along: neither the
``Venta-Dlq-*`` ones nor NATS's (``Nats-*``). The event stream drops a
message whose id it saw within its duplicate window, and the original was published with the
event id as its id, so a replay uses ``<event id>:replay:<dead-letter seq>``: never taken for
the original, yet the same when a replay is retried after its delete failed (the stream then
drops the copy). The envelope bytes stay as they were; handlers are idempotent by event id.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext, api

from venta_core.events import DLQ_HEADERS, dlq_subject
from venta_core.ports.bus_memory import validate_subject

__all__ = [
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterQueue",
    "NoDeadLetterStream",
    "Replayed",
    "UnknownDeadLetter",
    "replay_msg_id",
]

#: Messages asked for at once while reading the dead-letter stream.
READ_BATCH = 256
READ_WAIT_SECONDS = 2.0
#: An interrupted read leaves its consumer behind for this long at most.
READER_INACTIVE_SECONDS = 30.0
#: JetStream's error code for "no message found" (a 404 also used for a missing stream).
_NO_MESSAGE = 10037


class DeadLetterError(Exception):
    """A dead-letter operation that cannot be done; the message is for the operator."""


class NoDeadLetterStream(DeadLetterError):
    """The dead-letter stream does not exist on this NATS (no venta process created it, or the
    key prefix / stream name differ)."""


class UnknownDeadLetter(DeadLetterError, LookupError):
    """No dead letter has the sequence asked for."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event, as stored in the dead-letter stream."""

    seq: int  # its sequence in the dead-letter stream
    time: datetime | None  # when it was dead-lettered
    event_type: str  # from ``<prefix>.dlq.<type>``; ``unknown`` for unreadable messages
    event_id: str | None  # the envelope's ``id``, when the bytes carry one
    handler: str | None
    reason: str | None
    deliveries: int | None
    subject: str | None  # where it was published originally (``<prefix>.events.<type>``)
    stream_seq: int | None  # its sequence in the event stream
    data: bytes
    headers: Mapping[str, str]

    def summary(self) -> dict[str, Any]:
        """Everything but the bytes, JSON-ready (camelCase, like the envelope)."""
        return {
            "seq": self.seq,
            "time": self.time.isoformat() if self.time else None,
            "type": self.event_type,
            "eventId": self.event_id,
            "handler": self.handler,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "subject": self.subject,
            "streamSeq": self.stream_seq,
        }


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter published again (and deleted from the dead-letter stream).

    ``event_seq`` is the event's new sequence in the event stream. ``again`` is true when the
    stream already held this replay: one of an earlier attempt whose delete failed (within the
    duplicate window), or one of the same event made for another dead letter in this run."""

    letter: DeadLetter
    event_seq: int
    again: bool = False


def replay_msg_id(letter: DeadLetter) -> str:
    """The ``Nats-Msg-Id`` of a replay: not the original's (the event id), stable per letter."""
    return f"{letter.event_id or 'dead-letter'}:replay:{letter.seq}"


class DeadLetterQueue:
    """The dead-letter stream ``dlq_stream`` of the application with key prefix ``prefix``,
    whose events are stored in ``stream``."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        prefix: str,
        stream: str,
        dlq_stream: str,
        publish_timeout: float = 5.0,
    ) -> None:
        self._js = js
        self.prefix = prefix
        self.stream = stream
        self.dlq_stream = dlq_stream
        self._publish_timeout = publish_timeout

    def filter_subject(self, event_type: str | None = None) -> str:
        """``<prefix>.dlq.<type>`` (wildcards allowed: ``vendor.*``), or all dead letters.
        ``ValueError`` for a type that is no subject."""
        subject = dlq_subject(self.prefix, event_type) if event_type else f"{self.prefix}.dlq.>"
        try:
            validate_subject(subject, pattern=True)
        except ValueError:
            raise ValueError(f"invalid event type {event_type!r}") from None
        return subject

    async def count(self, event_type: str | None = None) -> int:
        """Dead letters stored (of ``event_type``)."""
        filter_subject = self.filter_subject(event_type)
        try:
            info = await self._js.stream_info(self.dlq_stream, subjects_filter=filter_subject)
        except nats.js.errors.NotFoundError:
            raise self._no_stream() from None
        except nats.js.errors.APIError as exc:
            raise DeadLetterError(f"JetStream refused reading {self.dlq_stream}: {exc}") from None
        return sum((info.state.subjects or {}).values())

    async def list(
        self,
        *,
        event_type: str | None = None,
        handler: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[DeadLetter], int]:
        """The dead letters of ``event_type`` and ``handler``, oldest first, only the newest
        ``limit`` when given; and how many matched in all."""
        newest: deque[DeadLetter] = deque(maxlen=limit if limit else None)
        matched = 0
        async for letter in self._read(self.filter_subject(event_type)):
            if handler is None or letter.handler == handler:
                newest.append(letter)
                matched += 1
        return list(newest), matched

    async def get(self, seq: int) -> DeadLetter:
        """The dead letter ``seq``; ``UnknownDeadLetter`` when there is none."""
        if seq < 1:
            raise UnknownDeadLetter(f"no dead letter {seq} in {self.dlq_stream}")
        try:
            raw = await self._js.get_msg(self.dlq_stream, seq)
        except nats.js.errors.NotFoundError as exc:
            if getattr(exc, "err_code", None) == _NO_MESSAGE:
                raise UnknownDeadLetter(f"no dead letter {seq} in {self.dlq_stream}") from None
            raise self._no_stream() from None
        except nats.js.errors.APIError as exc:
            raise DeadLetterError(f"JetStream refused reading {self.dlq_stream}: {exc}") from None
        return self._letter(
            seq=int(raw.seq or seq),
            subject=str(raw.subject or ""),
            data=bytes(raw.data or b""),
            headers=raw.headers or {},
            time=raw.time,
        )

    async def replay(self, letters: Sequence[DeadLetter]) -> AsyncIterator[Replayed]:
        """Publish each letter again on its original subject, then delete it; yields each one
        done. Every letter is checked before the first is published, so a letter that cannot be
        replayed stops the run before anything changed. Several dead letters of one event
        (several handlers gave up on it) are published once."""
        for letter in letters:
            self._check_replayable(letter)
        published: dict[tuple[str, str, bytes], int] = {}
        for letter in letters:
            assert letter.subject is not None  # checked above
            key = (letter.event_id, letter.subject, letter.data) if letter.event_id else None
            if key is not None and key in published:
                event_seq, again = published[key], True
            else:
                event_seq, again = await self._publish(letter)
                if key is not None:
                    published[key] = event_seq
            await self._delete(letter, event_seq)
            yield Replayed(letter, event_seq, again)

    async def purge(self, event_type: str | None = None) -> int:
        """Delete the dead letters (of ``event_type``); how many there were."""
        filter_subject = self.filter_subject(event_type)
        count = await self.count(event_type)
        try:
            await self._js.purge_stream(self.dlq_stream, subject=filter_subject)
        except nats.js.errors.NotFoundError:
            raise self._no_stream() from None
        except nats.js.errors.APIError as exc:
            raise DeadLetterError(f"JetStream refused purging {self.dlq_stream}: {exc}") from None
        return count

    # -- internals -----------------------------------------------------------------------------

    async def _read(self, filter_subject: str) -> AsyncIterator[DeadLetter]:
        """Every dead letter on ``filter_subject`` stored when the read starts, in order, through
        a consumer of this read only (no acknowledgements; deleted at the end)."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=READER_INACTIVE_SECONDS,
            num_replicas=1,
            mem_storage=True,
        )
        try:
            sub = await self._js.pull_subscribe(
                filter_subject, stream=self.dlq_stream, config=config
            )
        except nats.js.errors.NotFoundError:
            raise self._no_stream() from None
        except nats.js.errors.APIError as exc:
            raise DeadLetterError(f"JetStream refused reading {self.dlq_stream}: {exc}") from None
        try:
            remaining = (await sub.consumer_info()).num_pending or 0
            while remaining > 0:
                try:
                    msgs = await sub.fetch(min(remaining, READ_BATCH), timeout=READ_WAIT_SECONDS)
                except nats.errors.TimeoutError:
                    return  # deleted or expired meanwhile
                for msg in msgs:
                    meta = msg.metadata
                    yield self._letter(
                        seq=int(meta.sequence.stream),
                        subject=str(msg.subject),
                        data=bytes(msg.data),
                        headers=msg.headers or {},
                        time=meta.timestamp,
                    )
                    remaining = min(remaining - 1, int(meta.num_pending))
        finally:
            await self._close_reader(sub)

    async def _close_reader(self, sub: Any) -> None:
        with contextlib.suppress(Exception):
            info = await sub.consumer_info()
            await self._js.delete_consumer(self.dlq_stream, info.name)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

    def _letter(
        self,
        *,
        seq: int,
        subject: str,
        data: bytes,
        headers: Mapping[str, str],
        time: datetime | None,
    ) -> DeadLetter:
        root = f"{self.prefix}.dlq."
        event_type = subject[len(root) :] if subject.startswith(root) else subject
        handler = headers.get(DLQ_HEADERS["handler"])
        return DeadLetter(
            seq=seq,
            time=time,
            event_type=event_type,
            event_id=_event_id(data, headers.get("Nats-Msg-Id"), handler),
            handler=handler,
            reason=headers.get(DLQ_HEADERS["reason"]),
            deliveries=_int(headers.get(DLQ_HEADERS["deliveries"])),
            subject=headers.get(DLQ_HEADERS["subject"]),
            stream_seq=_int(headers.get(DLQ_HEADERS["stream_seq"])),
            data=data,
            headers=dict(headers),
        )

    def _check_replayable(self, letter: DeadLetter) -> None:
        subject = letter.subject
        root = f"{self.prefix}.events."
        if not subject:
            raise DeadLetterError(
                f"dead letter {letter.seq} has no {DLQ_HEADERS['subject']} header: "
                "its original subject is unknown"
            )
        try:
            validate_subject(subject, pattern=False)
        except ValueError:
            valid = False
        else:
            valid = subject.startswith(root)
        if not valid:
            raise DeadLetterError(
                f"dead letter {letter.seq}: original subject {subject!r} is not under {root}*"
            )

    async def _publish(self, letter: DeadLetter) -> tuple[int, bool]:
        """Publish ``letter`` on its original subject into the event stream: (its sequence
        there, whether the stream already held this replay)."""
        assert letter.subject is not None
        headers = _replay_headers(letter.headers)
        headers["Nats-Msg-Id"] = replay_msg_id(letter)
        try:
            ack = await self._js.publish(
                letter.subject,
                letter.data,
                timeout=self._publish_timeout,
                headers=headers,
            )
        except nats.js.errors.NoStreamResponseError:
            raise DeadLetterError(
                f"dead letter {letter.seq} not replayed: no stream stores {letter.subject!r}"
            ) from None
        except nats.js.errors.APIError as exc:
            raise DeadLetterError(
                f"dead letter {letter.seq} not replayed: the event stream {self.stream} "
                f"refused it: {exc}"
            ) from None
        except TimeoutError:
            raise DeadLetterError(
                f"dead letter {letter.seq} not replayed: {self.stream} did not confirm within "
                f"{self._publish_timeout:g} s (it may be stored: replaying it again is safe)"
            ) from None
        except nats.errors.Error as exc:
            raise DeadLetterError(
                f"dead letter {letter.seq} not replayed: {type(exc).__name__}"
            ) from None
        if str(ack.stream) != self.stream:
            raise DeadLetterError(
                f"dead letter {letter.seq} was published into stream {ack.stream}, not "
                f"{self.stream}, and kept: check VENTA_EVENTS__STREAM_NAME"
            )
        return int(ack.seq), bool(ack.duplicate)

    async def _delete(self, letter: DeadLetter, event_seq: int) -> None:
        try:
            await self._js.delete_msg(self.dlq_stream, letter.seq)
        except nats.js.errors.NotFoundError as exc:
            if getattr(exc, "err_code", None) == _NO_MESSAGE:
                return  # deleted meanwhile: what was asked for holds
            raise self._no_stream() from None
        except Exception as exc:
            raise DeadLetterError(
                f"dead letter {letter.seq} was replayed ({self.stream} seq {event_seq}) but not "
                f"deleted ({type(exc).__name__}); replaying it again within the duplicate "
                "window only deletes it"
            ) from None

    def _no_stream(self) -> NoDeadLetterStream:
        return NoDeadLetterStream(
            f"no stream {self.dlq_stream} on this NATS: no venta process with this key prefix "
            "(VENTA_KEY_PREFIX) and stream name (VENTA_EVENTS__STREAM_NAME) has started here"
        )


def _replay_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The original headers: without the dead-letter ones and NATS's own (``Nats-*``)."""
    dropped = {h.lower() for h in DLQ_HEADERS.values()}
    return {k: v for k, v in headers.items() if k.lower() not in dropped and not _nats_header(k)}


def _nats_header(name: str) -> bool:
    return name.lower().startswith("nats-")


def _event_id(data: bytes, msg_id: str | None, handler: str | None) -> str | None:
    """The envelope's ``id``; for bytes that are no envelope, the original message id (the
    worker stores it as ``<handler>:<id>``)."""
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        parsed = json.loads(data)
        if isinstance(parsed, dict) and isinstance(parsed.get("id"), str) and parsed["id"]:
            return str(parsed["id"])[:200]
    if msg_id and handler and msg_id.startswith(f"{handler}:"):
        return msg_id[len(handler) + 1 :] or None
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
