"""One handler's durable consumer: fetch, handle with bounded concurrency, settle.

For each delivery:

- not an envelope of a known type with a valid payload -> dead-lettered (``malformed``);
- a type the handler does not want (its filter is a wildcard) -> acknowledged, skipped (unread
  when its subject names the type);
- delivered more than ``max_deliver`` times (the worker died on it before) -> dead-lettered
  (``max_deliver``) without calling the handler again;
- handler returns -> ack; raises ``PoisonEvent`` -> dead-lettered (``poison``); raises anything
  else -> ``nak`` with the backoff delay of that attempt, or dead-lettered (``failed``) on the
  last allowed delivery.

A handler with ``handle_batch`` gets the events of a fetch together, one batch after the
other (the next batch is fetched while one is handled, and handed over only once it is done,
so stream order holds). Malformed, unwanted and over-delivered messages are settled as above
and left out; the rest go to ``handle_batch`` in stream order and are all acknowledged once it
returns (after its commit: a worker killed in between has them redelivered, which idempotent
handlers make harmless). When it raises, each event is settled on its own through ``handle``,
in order, so a poison event is dead-lettered alone and the others are acknowledged.

Dead-lettering publishes the original bytes on ``<prefix>.dlq.<type>`` with the reason in
headers, then terminates the delivery; if that publish fails the delivery is retried later
instead, so an event is never dropped silently. While a handler runs, the delivery is reported
in progress every half ``ack_wait``, so a slow handler is not taken for a dead one.

Tracing (when on): the handling of an event runs in a CONSUMER span ``process <type>`` whose
parent is the trace context in the message's headers (``traceparent``, put there by the
relay), so the handler's SQL statements and Redis commands join the trace of the request
that caused the event. A batch runs in one span linked to each event's context (its child
when all share one context), plus, when they do not, one span per event in the event's own
trace, linked to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any

from venta_core.context import RequestContext, new_request_id, request_context
from venta_core.events import (
    DLQ_HEADERS,
    EventEnvelope,
    EventHandler,
    MalformedEvent,
    PoisonEvent,
    decode_event,
    dlq_subject,
    event_subject,
)
from venta_core.observability import tracing
from venta_core.ports.stream import (
    ConsumerSpec,
    EventStream,
    OutgoingMessage,
    StreamConsumer,
    StreamMessage,
)
from venta_core.settings import WorkerSettings
from venta_core.transports.worker.metrics import WorkerMetrics

__all__ = ["HandlerRunner", "cancel_and_wait"]

log = logging.getLogger(__name__)

FETCH_WAIT_SECONDS = 1.0
#: Bounds of the pause after a failed fetch (the stream is unreachable), doubled each time.
RETRY_PAUSE_SECONDS = (0.2, 5.0)
#: JetStream stops delivering after its own max_deliver; leave room for dead-lettering retries.
SERVER_MAX_DELIVER_GRACE = 5


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it is done: a cancellation that arrives just as the awaited
    future completes can be lost inside ``asyncio.wait_for`` (Python 3.11, used by libraries)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


class HandlerRunner:
    def __init__(
        self,
        stream: EventStream,
        handler: EventHandler,
        *,
        prefix: str,
        filter_subject: str,
        settings: WorkerSettings,
        metrics: WorkerMetrics,
    ) -> None:
        self.handler = handler
        self._stream = stream
        self._prefix = prefix
        self._settings = settings
        self._metrics = metrics
        self.concurrency = min(handler.concurrency or settings.concurrency, settings.concurrency)
        self.batching = handler.handle_batch is not None
        # a batch being handled and the next one, fetched meanwhile
        unsettled = 2 * settings.batch_size if self.batching else self.concurrency * 4
        self.spec = ConsumerSpec(
            durable=f"{prefix}-{handler.name}",
            filter_subject=filter_subject,
            ack_wait_seconds=settings.ack_wait_seconds,
            max_deliver=settings.max_deliver + SERVER_MAX_DELIVER_GRACE,
            max_ack_pending=max(unsettled, 64),
        )
        # Subjects of the wanted types: a delivery on another event subject is skipped unread
        self._events_root = f"{prefix}.events."
        self._wanted = frozenset(event_subject(prefix, t) for t in handler.event_types)
        self._consumer: StreamConsumer | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._nak_on_cancel = False
        self._pause = RETRY_PAUSE_SECONDS[0]
        self.handled = 0
        self.dead_lettered = 0

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def consumer(self) -> StreamConsumer | None:
        return self._consumer

    async def start(self) -> None:
        self._consumer = await self._stream.consumer(self.spec)
        self._loop_task = asyncio.create_task(self._loop(), name=f"worker {self.handler.name}")

    async def stop(self, drain_seconds: float) -> None:
        """Fetch no more; give events being handled ``drain_seconds``; hand the rest back."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=drain_seconds)
            if late:
                log.warning("%s: %d events not finished; redelivered later", self.name, len(late))
                self._nak_on_cancel = True
                for t in late:
                    t.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.close()
            self._consumer = None

    @property
    def name(self) -> str:
        return self.handler.name

    async def _loop(self) -> None:
        if self.batching:
            await self._batch_loop()
            return
        while True:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            for message in await self._fetch(free):
                self._spawn(self._process(message))

    async def _batch_loop(self) -> None:
        """Fetch the next batch while the previous one is handled; hand it over after."""
        current: asyncio.Task[None] | None = None
        while True:
            messages = await self._fetch(self._settings.batch_size)
            if not messages:
                continue
            try:
                if current is not None and not current.done():  # done: no pass of the loop
                    await asyncio.wait({current})
            except asyncio.CancelledError:
                await asyncio.gather(*(m.nak() for m in messages), return_exceptions=True)
                raise
            current = self._spawn(self._settle_batch(messages))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._inflight.add(task)
        task.add_done_callback(self._done)
        return task

    async def _fetch(self, count: int) -> list[StreamMessage]:
        """Up to ``count`` messages; none after a failed fetch, which pauses (growing)."""
        try:
            if self._consumer is None:
                self._consumer = await self._stream.consumer(self.spec)
            messages = await self._consumer.fetch(count, FETCH_WAIT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: fetching events failed (%s); retrying", self.name, exc)
            await self._rebind()
            await asyncio.sleep(self._pause)
            self._pause = min(self._pause * 2, RETRY_PAUSE_SECONDS[1])
            return []
        self._pause = RETRY_PAUSE_SECONDS[0]
        return messages

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._room.set()

    async def _rebind(self) -> None:
        """After a failed fetch, bind again next time (the broker may have lost the consumer)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.close()

    async def _process(self, message: StreamMessage) -> None:
        heartbeat = asyncio.create_task(self._heartbeat([message]))
        try:
            await self._settle(message)
        except asyncio.CancelledError:
            if self._nak_on_cancel:
                with contextlib.suppress(Exception):
                    await message.nak()
            raise
        except Exception:
            log.exception("%s: settling event %d failed", self.name, message.seq)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, messages: Sequence[StreamMessage]) -> None:
        interval = self._settings.ack_wait_seconds / 2
        while True:
            await asyncio.sleep(interval)
            await asyncio.gather(*(m.in_progress() for m in messages), return_exceptions=True)

    async def _settle_batch(self, messages: list[StreamMessage]) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(messages))
        settled: set[int] = set()
        try:
            await self._settle_all(messages, settled)
        except asyncio.CancelledError:
            if self._nak_on_cancel:
                left = [m for m in messages if id(m) not in settled]
                await asyncio.gather(*(m.nak() for m in left), return_exceptions=True)
            raise
        except Exception:
            log.exception("%s: settling a batch of %d events failed", self.name, len(messages))
        finally:
            heartbeat.cancel()

    async def _settle_all(self, messages: list[StreamMessage], settled: set[int]) -> None:
        """Settle the batch: what needs no handler first, then ``handle_batch`` for the rest
        (or ``handle`` for each, in order, when it raises). ``settled`` gets the ids of
        settled messages."""
        ready: list[tuple[StreamMessage, EventEnvelope]] = []
        for message in messages:
            envelope = await self._precheck(message)
            if envelope is None:
                settled.add(id(message))
            else:
                ready.append((message, envelope))
        if not ready:
            return
        handle_batch = self.handler.handle_batch
        assert handle_batch is not None
        envelopes = [e for _, e in ready]
        try:
            with self._batch_spans(ready):
                await self._run_handler(lambda: handle_batch(envelopes), envelopes)
        except Exception as exc:
            log.info("%s: batch of %d failed (%s); one by one", self.name, len(ready), exc)
            for message, envelope in ready:
                await self._dispatch(message, envelope)
                settled.add(id(message))
            return
        # One after the other: an acknowledgement is written to the connection's buffer
        # without a wait (JetStream does not answer it), so a task each would only cost.
        for message, _ in ready:
            await message.ack()
            settled.add(id(message))
        self.handled += len(ready)
        for type_, count in Counter(e.type for e in envelopes).items():
            self._metrics.handled.labels(self.name, type_).inc(count)

    async def _precheck(self, message: StreamMessage) -> EventEnvelope | None:
        """The envelope to hand to the handler, or ``None`` when the message was settled
        without it (malformed, a type the handler does not want, delivered too often).

        A delivery on the subject of a type the handler does not want (its filter is a
        wildcard: ``vendor.*`` also brings ``vendor.moved``) is acknowledged without being
        decoded: the subject names the type, and skipping such events is most of what a
        consumer with a wide filter does."""
        subject = message.subject
        if subject not in self._wanted and subject.startswith(self._events_root):
            await message.ack()
            return None
        try:
            envelope = decode_event(message.data)
        except MalformedEvent as exc:
            await self._dead_letter(message, self._type_of(message), "malformed", str(exc))
            return None
        if envelope.type not in self.handler.event_types:
            await message.ack()
            return None
        if message.delivery > 1:
            self._metrics.redelivered.labels(self.name).inc()
        limit = self._settings.max_deliver
        if message.delivery > limit:
            reason = f"delivered {message.delivery} times (limit {limit})"
            await self._dead_letter(message, envelope.type, "max_deliver", reason)
            return None
        return envelope

    async def _settle(self, message: StreamMessage) -> None:
        envelope = await self._precheck(message)
        if envelope is not None:
            await self._dispatch(message, envelope)

    async def _dispatch(self, message: StreamMessage, envelope: EventEnvelope) -> None:
        """Hand one event to ``handle`` and settle it by the outcome."""
        limit = self._settings.max_deliver
        try:
            with self._span(message, envelope):
                await self._run_handler(lambda: self.handler.handle(envelope), [envelope])
        except PoisonEvent as exc:
            await self._dead_letter(message, envelope.type, "poison", str(exc) or "poison")
        except Exception as exc:
            self._metrics.failed.labels(self.name, envelope.type).inc()
            if message.delivery >= limit:
                reason = f"failed {message.delivery} times, last: {type(exc).__name__}: {exc}"
                log.error("%s: %s %s dead-lettered: %s", self.name, envelope.type, envelope.id, exc)
                await self._dead_letter(message, envelope.type, "failed", reason)
            else:
                log.warning(
                    "%s: %s %s failed (delivery %d): %s",
                    self.name,
                    envelope.type,
                    envelope.id,
                    message.delivery,
                    exc,
                )
                await message.nak(self._backoff(message.delivery))
        else:
            await message.ack()
            self.handled += 1
            self._metrics.handled.labels(self.name, envelope.type).inc()

    async def _run_handler(
        self, call: Callable[[], Awaitable[None]], envelopes: Sequence[EventEnvelope]
    ) -> None:
        """``call()`` (the handler on ``envelopes``) in the request context of the first
        event, counted in the in-progress gauge and the duration histogram."""
        ctx = RequestContext(request_id=envelopes[0].request_id or new_request_id())
        gauge = self._metrics.in_progress.labels(self.name)
        gauge.inc(len(envelopes))
        started = time.perf_counter()
        try:
            with request_context(ctx):
                await call()
        finally:
            gauge.dec(len(envelopes))
            self._metrics.duration.labels(self.name).observe(time.perf_counter() - started)

    def _attributes(self, message: StreamMessage, envelope: EventEnvelope) -> dict[str, Any]:
        return {
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": message.subject,
            "messaging.consumer.group.name": self.spec.durable,
            "messaging.message.id": envelope.id,
            "messaging.message.body.size": len(message.data),
            "venta.event.delivery": message.delivery,
        }

    def _span(
        self, message: StreamMessage, envelope: EventEnvelope, *, current: bool = True, **more: Any
    ) -> contextlib.AbstractContextManager[Any]:
        """The CONSUMER span of one event's handling, in the trace its headers name."""
        if not tracing.active():
            return contextlib.nullcontext()
        return tracing.messaging_span(
            f"process {envelope.type}",
            "consumer",
            parent=message.headers,
            attributes=self._attributes(message, envelope),
            current=current,
            **more,
        )

    @contextlib.contextmanager
    def _batch_spans(self, ready: Sequence[tuple[StreamMessage, EventEnvelope]]) -> Iterator[None]:
        """The spans of a batch's handling (see the module docstring)."""
        if not tracing.active():
            yield
            return
        if len(ready) == 1:
            with self._span(*ready[0]):
                yield
            return
        carriers = [tracing.extract_headers(m.headers) for m, _ in ready]
        shared = {c.get("traceparent") for c in carriers}
        types = {e.type for _, e in ready}
        attributes = {
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.consumer.group.name": self.spec.durable,
            "messaging.batch.message_count": len(ready),
        }
        if len(types) == 1:
            attributes["messaging.destination.name"] = ready[0][0].subject
        name = f"process {types.pop() if len(types) == 1 else self.name}"
        common = carriers[0] if len(shared) == 1 else None
        with contextlib.ExitStack() as spans:
            batch = spans.enter_context(
                tracing.messaging_span(
                    name,
                    "consumer",
                    parent=common,
                    links=[c for c in carriers if c],
                    attributes=attributes,
                )
            )
            if common is None:
                link = [tracing.inject_context(tracing.context_of(batch))]
                for message, envelope in ready:
                    if tracing.extract_context(message.headers) is not None:
                        spans.enter_context(
                            self._span(message, envelope, current=False, links=link)
                        )
            yield

    def _backoff(self, delivery: int) -> float:
        delays = self._settings.backoff_seconds
        return delays[min(delivery, len(delays)) - 1]

    def _type_of(self, message: StreamMessage) -> str:
        """The event type named by the subject, for the dead-letter subject of a bad message."""
        root = f"{self._prefix}.events."
        rest = message.subject[len(root) :] if message.subject.startswith(root) else ""
        return rest if rest and "*" not in rest and ">" not in rest else "unknown"

    async def _dead_letter(
        self, message: StreamMessage, type_: str, kind: str, reason: str
    ) -> None:
        original_id = message.headers.get("Nats-Msg-Id") or f"seq-{message.seq}"
        headers = {
            # NATS control headers (Nats-Msg-Id, Nats-Expected-Stream, ...) applied to the
            # original publish; copied onto the dead letter they could make storing it fail
            **{k: v for k, v in message.headers.items() if not k.lower().startswith("nats-")},
            DLQ_HEADERS["reason"]: f"{kind}: {reason}"[:1000],
            DLQ_HEADERS["handler"]: self.name,
            DLQ_HEADERS["subject"]: message.subject,
            DLQ_HEADERS["deliveries"]: str(message.delivery),
            DLQ_HEADERS["stream_seq"]: str(message.seq),
        }
        parked = OutgoingMessage(
            subject=dlq_subject(self._prefix, type_),
            data=message.data,
            msg_id=f"{self.name}:{original_id}",
            headers=headers,
        )
        try:
            await self._stream.publish(parked)
        except Exception as exc:
            log.warning(
                "%s: dead-lettering event %d failed (%s); retrying", self.name, message.seq, exc
            )
            await message.nak(self._backoff(message.delivery))
            return
        await message.term()
        self.dead_lettered += 1
        self._metrics.dead_lettered.labels(self.name, kind).inc()
        log.warning("%s: event %d dead-lettered (%s: %s)", self.name, message.seq, kind, reason)
