"""Event stream on NATS JetStream, sharing the connection of ``NatsEventBus``.

Streams are created at start or updated to the settings (retention cannot change on an
existing stream; a mismatch is logged). Publishing waits for JetStream's acknowledgement and
sends the message id as ``Nats-Msg-Id``, so a message sent twice within the duplicate window is
stored once. Batches are pipelined: every message of a batch is written to the connection in
order, with a reply subject under one inbox of this stream, without a pass of the event loop
in between (nats-py's ``publish_async`` takes one per message, which made a relay batch wait
on every other task of the process), then the acknowledgements are awaited together.
Consumers are durable pull consumers with explicit acknowledgement, pulled through an inbox of
their own (see ``_JsConsumer``). While NATS is
unreachable, publish and fetch raise ``ConnectionError`` or ``TimeoutError``; the client
reconnects by itself.

A fetch that waits out its deadline is an idle poll, not a fault: it returns no message. nats-py
reports timeouts with its own ``nats.errors.TimeoutError`` or the builtin ``TimeoutError``,
which since Python 3.11 is an ``OSError``: timeouts are told apart before any check for
``OSError`` ("unreachable"). A consumer that idles keeps asking, every
``CONSUMER_CHECK_SECONDS``, whether its durable still exists: a broker that lost its storage
comes back without it, and pull requests to a missing consumer may go unanswered, so this
check (or JetStream's "Consumer Deleted" answer to a pull) turns that into a
``ConnectionError`` (the caller binds again, which creates it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from venta_core.ports.bus import subject_matches
from venta_core.ports.bus_memory import validate_subject
from venta_core.ports.bus_nats import NatsEventBus
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

__all__ = ["JetStreamEventStream"]

#: JetStream's error code for a publish whose ``Nats-Expected-Last-Msg-Id`` is not the last.
WRONG_LAST_MSG_ID = 10070

log = logging.getLogger(__name__)

_RETENTION = {
    "limits": api.RetentionPolicy.LIMITS,
    "interest": api.RetentionPolicy.INTEREST,
    "workqueue": api.RetentionPolicy.WORK_QUEUE,
}
_STORAGE = {"file": api.StorageType.FILE, "memory": api.StorageType.MEMORY}
#: How often an idle consumer checks that its durable still exists on the server.
CONSUMER_CHECK_SECONDS = 10.0
#: Errors meaning "NATS is not reachable right now" rather than "this request is wrong".
#: ``OSError`` includes the builtin ``TimeoutError``: catch timeouts first where they mean
#: something else (see the module docstring).
_UNREACHABLE = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    OSError,
)


class _JsMessage:
    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self._seq, self._delivery = _positions(msg)

    @property
    def subject(self) -> str:
        return str(self._msg.subject)

    @property
    def data(self) -> bytes:
        return bytes(self._msg.data)

    @property
    def headers(self) -> Mapping[str, str]:
        return dict(self._msg.headers or {})

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def delivery(self) -> int:
        return self._delivery

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self, delay: float | None = None) -> None:
        await self._msg.nak(delay=delay if delay and delay > 0 else None)

    async def term(self) -> None:
        await self._msg.term()

    async def in_progress(self) -> None:
        await self._msg.in_progress()


#: Tokens of a JetStream acknowledgement subject (the reply subject of a delivery):
#: ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
#: or, from NATS 2.9 on, with ``<domain>.<account hash>`` after ``ACK`` and a token at the end.
_V1_TOKENS = 9
_V1_DELIVERED, _V1_STREAM_SEQ = 4, 5


def _positions(msg: Msg) -> tuple[int, int]:
    """The stream sequence and delivery count of ``msg``, read from its reply subject: the
    two figures the worker needs, without nats-py's full metadata (its timestamp conversion
    cost more than the rest of a message's receipt)."""
    tokens = (msg.reply or "").split(".")
    if tokens[:2] == ["$JS", "ACK"]:
        if len(tokens) == _V1_TOKENS:
            return int(tokens[_V1_STREAM_SEQ]), int(tokens[_V1_DELIVERED])
        if len(tokens) >= Msg.Ack.NumPending + 1:
            return int(tokens[Msg.Ack.StreamSeq]), int(tokens[Msg.Ack.NumDelivered])
    meta = msg.metadata  # raises NotJSMessageError, as before
    return int(meta.sequence.stream), int(meta.num_delivered)


#: Grace beyond a pull request's own expiry before a fetch stops waiting for JetStream's
#: answer (a request lost with the connection, or sent to a consumer that no longer exists).
PULL_GRACE_SECONDS = 0.5
#: A pull request's expiry must be positive; a shorter wait than this is rounded up.
PULL_MIN_EXPIRES_SECONDS = 0.01


class _JsConsumer:
    """A durable pull consumer, pulled through an inbox of its own.

    A fetch publishes one pull request (``batch``, ``no_wait`` and ``expires``: JetStream
    then answers as soon as one message is there, with every message available up to
    ``batch``, and ends the request with a status, or with a 408 status once ``expires``
    passed without any) whose reply subject is ``<inbox>.<n>``; a fetch of one message asks
    without ``no_wait``, answered by that message or the 408. These are the requests
    nats-py's fetch sends first, so JetStream treats them as it did. The inbox's callback
    collects the messages in a list and wakes the fetch once: when the batch is full or the
    status for the current request arrives. nats-py's own fetch awaits each message of a
    batch in a task of its own, with a timeout and a name drawn from ``uuid4``: over two
    thirds of the CPU a delivery cost (fetched and acknowledged: 35 -> 11 us a message).

    Messages that arrive after their fetch gave up (its request was answered late) are kept
    and returned first by the next fetch, as nats-py does. Statuses of earlier requests are
    ignored. One fetch at a time per consumer."""

    def __init__(self, js: JetStreamContext, nc: Any, stream: str, durable: str) -> None:
        self.durable = durable
        self._js = js
        self._nc = nc
        self._stream = stream
        self._next = f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._sub: Any = None
        self._requests = itertools.count(1)
        self._current = ""  # reply subject of the request being answered
        self._wanted = 0
        self._ready: list[Msg] = []
        self._answered = asyncio.Event()
        self._status: tuple[str, str] | None = None  # how the current request ended
        self._fetching = asyncio.Lock()
        self._checked_at = time.monotonic()

    async def open(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_delivery)

    async def _on_delivery(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(api.Header.STATUS) if headers and not msg.data else None
        if status is None:
            self._ready.append(msg)
            if len(self._ready) >= self._wanted > 0:
                self._answered.set()
        elif msg.subject == self._current:
            self._status = (status, str(headers.get(api.Header.DESCRIPTION, "")))  # type: ignore[union-attr]
            self._answered.set()

    async def fetch(self, batch: int, max_wait: float) -> list[StreamMessage]:
        async with self._fetching:
            if not self._ready:
                await self._pull(batch, max(max_wait, PULL_MIN_EXPIRES_SECONDS))
            taken, self._ready = self._ready[:batch], self._ready[batch:]
        if not taken:
            if self._status is not None and "deleted" in self._status[1].lower():
                raise self._gone()
            await self._check_exists()
            return []
        self._checked_at = time.monotonic()
        return [_JsMessage(m) for m in taken]

    async def _pull(self, batch: int, wait: float) -> None:
        """Send one pull request and wait for its answer (see the class docstring)."""
        self._current = f"{self._inbox}.{next(self._requests)}"
        self._wanted = batch
        self._status = None
        self._answered.clear()
        request: dict[str, object] = {"batch": batch, "expires": int(wait * 1_000_000_000)}
        if batch > 1:
            request["no_wait"] = True
        try:
            await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._current)
        except _UNREACHABLE as exc:
            raise ConnectionError(f"JetStream fetch failed: {type(exc).__name__}") from exc
        try:
            async with asyncio.timeout(wait + PULL_GRACE_SECONDS):
                await self._answered.wait()
        except TimeoutError:
            pass  # no answer: the caller sees no message (and checks the consumer exists)
        finally:
            self._wanted = 0
        if self._nc.is_closed:
            raise ConnectionError("JetStream fetch failed: the connection is closed")

    async def _check_exists(self) -> None:
        """After an idle poll, at most every ``CONSUMER_CHECK_SECONDS``: raise
        ``ConnectionError`` when the server no longer knows this consumer."""
        now = time.monotonic()
        if now - self._checked_at < CONSUMER_CHECK_SECONDS:
            return
        self._checked_at = now
        try:
            await self._js.consumer_info(self._stream, self.durable, timeout=2.0)
        except nats.js.errors.NotFoundError:
            raise self._gone() from None
        except Exception as exc:  # unreachable, or slow: the next fetch tells
            log.debug("checking consumer %s failed: %r", self.durable, exc)

    def _gone(self) -> ConnectionError:
        return ConnectionError(
            f"JetStream consumer {self.durable} no longer exists on stream {self._stream}"
        )

    async def state(self) -> ConsumerState:
        try:
            info = await self._js.consumer_info(self._stream, self.durable, timeout=2.0)
        except (*_UNREACHABLE, nats.errors.TimeoutError) as exc:
            raise ConnectionError(f"JetStream consumer info failed: {exc!r}") from exc
        return ConsumerState(
            pending=int(info.num_pending or 0),
            ack_pending=int(info.num_ack_pending or 0),
            redelivered=int(info.num_redelivered or 0),
        )

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is None:
            return
        try:
            await sub.unsubscribe()
        except Exception:
            log.debug("unsubscribing consumer %s failed", self.durable, exc_info=True)


class JetStreamEventStream:
    """``EventStream`` on JetStream (see the module docstring)."""

    name = "stream"
    checks_expected_last_msg_id = True

    def __init__(self, bus: NatsEventBus, specs: Sequence[StreamSpec] = ()) -> None:
        """``bus``: started before this stream, whose connection it uses; ``specs``: streams
        ensured at ``start``."""
        self._bus = bus
        self._specs = tuple(specs)
        self._js: JetStreamContext | None = None
        self._streams: dict[str, tuple[str, ...]] = {}  # name -> subjects, as ensured
        self._acks: dict[str, asyncio.Future[Msg]] = {}  # reply token -> its publish's answer
        self._ack_inbox: tuple[Any, str] | None = None  # (connection, inbox prefix)
        self._tokens = itertools.count()

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            self._js = self._bus.nc.jetstream()
        return self._js

    async def start(self) -> None:
        try:
            for spec in self._specs:
                await self.ensure_stream(spec)
        except (*_UNREACHABLE, nats.errors.TimeoutError, nats.js.errors.APIError) as exc:
            raise ConnectionError(f"cannot set up JetStream streams: {exc!r}") from exc

    async def stop(self) -> None:
        self._js = None
        self._ack_inbox = None
        for future in self._acks.values():
            future.cancel()
        self._acks.clear()

    async def check(self) -> None:
        await self._bus.check()
        try:
            await self.js.account_info()
        except (*_UNREACHABLE, nats.errors.TimeoutError) as exc:
            raise ConnectionError(f"JetStream unavailable: {exc!r}") from exc

    async def ensure_stream(self, spec: StreamSpec) -> None:
        for subject in spec.subjects:
            validate_subject(subject, pattern=True)
        config = api.StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            retention=_RETENTION[spec.retention],
            storage=_STORAGE[spec.storage],
            max_age=spec.max_age_seconds or None,
            max_msgs=spec.max_msgs,
            max_bytes=spec.max_bytes,
            num_replicas=spec.replicas,
            duplicate_window=spec.duplicate_window_seconds,
            discard=api.DiscardPolicy.OLD,
        )
        try:
            await self.js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            await self.js.add_stream(config)
            log.info("created JetStream stream %s (%s)", spec.name, ", ".join(spec.subjects))
        else:
            try:
                await self.js.update_stream(config)
            except nats.js.errors.BadRequestError as exc:
                log.warning("JetStream stream %s kept its settings: %s", spec.name, exc)
        self._streams[spec.name] = spec.subjects

    async def publish(self, message: OutgoingMessage, confirm_within: float = 5.0) -> PublishAck:
        validate_subject(message.subject, pattern=False)
        try:
            ack = await self.js.publish(
                message.subject, message.data, timeout=confirm_within, headers=_headers(message)
            )
        except nats.js.errors.NoStreamResponseError:
            raise NoStreamError(f"no stream stores subject {message.subject!r}") from None
        except nats.js.errors.APIError as exc:
            raise _api_error(exc) from None
        except nats.errors.TimeoutError:
            raise TimeoutError(f"JetStream did not confirm {message.subject!r}") from None
        except _UNREACHABLE as exc:
            raise ConnectionError(f"JetStream publish failed: {type(exc).__name__}") from exc
        return PublishAck(str(ack.stream), int(ack.seq), bool(ack.duplicate))

    async def publish_batch(
        self, messages: Sequence[OutgoingMessage], confirm_within: float = 5.0
    ) -> list[PublishAck | Exception]:
        try:
            nc, inbox = await self._inbox()
        except Exception as exc:
            return [_publish_error(exc, m.subject) for m in messages]
        sent: list[tuple[str, asyncio.Future[Msg]] | Exception] = []
        loop = asyncio.get_running_loop()
        valid: set[str] = set()  # a batch has a few subjects (event types): each checked once
        for message in messages:
            token = str(next(self._tokens))
            try:
                if message.subject not in valid:
                    validate_subject(message.subject, pattern=False)
                    valid.add(message.subject)
                future: asyncio.Future[Msg] = loop.create_future()
                self._acks[token] = future
                await nc.publish(
                    message.subject,
                    message.data,
                    reply=f"{inbox}.{token}",
                    headers=_headers(message),
                )
                sent.append((token, future))
            except Exception as exc:
                self._acks.pop(token, None)
                sent.append(_publish_error(exc, message.subject))
        pending = [item[1] for item in sent if isinstance(item, tuple)]
        try:
            if pending:
                await asyncio.wait(pending, timeout=confirm_within)
        except BaseException:  # cancelled: forget the replies still awaited
            for item in sent:
                if isinstance(item, tuple):
                    self._acks.pop(item[0], None)
            raise
        return [self._result(item, m.subject) for m, item in zip(messages, sent, strict=True)]

    def _result(
        self, item: tuple[str, asyncio.Future[Msg]] | Exception, subject: str
    ) -> PublishAck | Exception:
        if isinstance(item, Exception):
            return item
        token, future = item
        self._acks.pop(token, None)
        if not future.done():
            future.cancel()
            return TimeoutError(f"JetStream did not confirm {subject!r}")
        reply = future.result()
        if reply.headers and reply.headers.get(api.Header.STATUS) == "503":
            return NoStreamError(f"no stream stores subject {subject!r}")
        try:
            answer = json.loads(reply.data)
            if "error" in answer:
                nats.js.errors.APIError.from_error(answer["error"])  # raises
            return PublishAck(
                str(answer["stream"]), int(answer["seq"]), bool(answer.get("duplicate"))
            )
        except Exception as exc:
            return _publish_error(exc, subject)

    async def _inbox(self) -> tuple[Any, str]:
        """The connection and the reply prefix of pipelined publishes (subscribed once per
        connection; nats-py keeps the subscription across reconnects)."""
        nc = self._bus.nc
        if self._ack_inbox is None or self._ack_inbox[0] is not nc:
            prefix = nc.new_inbox()
            await nc.subscribe(f"{prefix}.*", cb=self._on_ack)
            self._ack_inbox = (nc, prefix)
        return self._ack_inbox

    async def _on_ack(self, msg: Msg) -> None:
        future = self._acks.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def consumer(self, spec: ConsumerSpec) -> _JsConsumer:
        validate_subject(spec.filter_subject, pattern=True)
        stream = await self._stream_of(spec.filter_subject)
        config = api.ConsumerConfig(
            name=spec.durable,
            durable_name=spec.durable,
            filter_subject=spec.filter_subject,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait_seconds,
            max_deliver=spec.max_deliver,
            max_ack_pending=spec.max_ack_pending,
        )
        try:
            await self.js.add_consumer(stream, config)
        except nats.js.errors.BadRequestError as exc:
            log.warning("JetStream consumer %s kept its settings: %s", spec.durable, exc)
        except _UNREACHABLE as exc:
            raise ConnectionError(f"JetStream consumer setup failed: {exc!r}") from exc
        consumer = _JsConsumer(self.js, self._bus.nc, stream, spec.durable)
        try:
            await consumer.open()
        except _UNREACHABLE as exc:
            raise ConnectionError(f"JetStream consumer setup failed: {exc!r}") from exc
        return consumer

    async def delete_consumer(self, durable: str, filter_subject: str) -> bool:
        try:
            stream = await self._stream_of(filter_subject)
            return bool(await self.js.delete_consumer(stream, durable))
        except (nats.js.errors.NotFoundError, NoStreamError):
            return False
        except _UNREACHABLE as exc:
            raise ConnectionError(f"JetStream consumer deletion failed: {exc!r}") from exc

    async def delete(self, name: str) -> None:
        """Delete a stream and its consumers (tests and tooling)."""
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.js.delete_stream(name)
        self._streams.pop(name, None)

    async def _stream_of(self, filter_subject: str) -> str:
        literal = filter_subject.replace(">", "x").replace("*", "x")
        for name, subjects in self._streams.items():
            if any(subject_matches(p, literal) or p == filter_subject for p in subjects):
                return name
        try:
            return str(await self.js.find_stream_name_by_subject(filter_subject))
        except nats.js.errors.NotFoundError:
            raise NoStreamError(f"no stream stores subject {filter_subject!r}") from None


def _headers(message: OutgoingMessage) -> dict[str, str] | None:
    headers = dict(message.headers)
    if message.msg_id is not None:
        headers["Nats-Msg-Id"] = message.msg_id
    if message.expected_last_msg_id is not None:
        headers["Nats-Expected-Last-Msg-Id"] = message.expected_last_msg_id
    return headers or None


def _api_error(exc: nats.js.errors.APIError) -> Exception:
    if exc.err_code == WRONG_LAST_MSG_ID:
        return WrongLastMessageError(exc.description or "wrong last message id")
    return exc


def _publish_error(exc: BaseException, subject: str) -> Exception:
    if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
        return NoStreamError(f"no stream stores subject {subject!r}")
    if isinstance(exc, nats.errors.TimeoutError | nats.js.errors.TooManyStalledMsgsError):
        return TimeoutError(f"JetStream did not confirm {subject!r}")
    if isinstance(exc, nats.js.errors.APIError):
        return _api_error(exc)
    if isinstance(exc, Exception):
        return ConnectionError(f"JetStream publish failed: {type(exc).__name__}: {exc}")
    return ConnectionError(f"JetStream publish failed: {type(exc).__name__}")
