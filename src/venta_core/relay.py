"""Outbox relay: publishes committed outbox rows to the event stream in order, then marks them
sent.

- Batches: a pass claims up to ``events.relay_batch`` pending rows and publishes them in
  waves: the first row of each vendor (or user, for subscription events), then the second of
  each, ... Each wave is written to the stream at once (pipelined on one connection) and its
  confirmations awaited together; the rows are then marked sent in one statement. A row whose
  publish failed stays pending, and the later rows of its vendor are not published in that
  pass: the next pass starts again from it, so a vendor's events are stored in outbox order.
  Rows of different vendors may be stored in another order than the outbox's. A batch that
  would need several waves goes out at once as a chain instead, when the stream checks
  ``expected_last_msg_id`` (each message stored only after the one before it); what the
  chain did not store goes out again in waves, in the same pass.

- Nothing is lost: a row is marked sent only in the transaction that follows a confirmed
  publish, so a crash or a NATS outage delays events and never drops them. A crash between
  publish and mark republishes the row later; the envelope id travels as ``Nats-Msg-Id`` and the
  stream drops the copy (inside its duplicate window; handlers are idempotent beyond it).
- One relay at a time: on PostgreSQL each batch runs in a transaction holding
  ``pg_try_advisory_xact_lock``, so relays of other processes skip while one publishes, and
  the order of the outbox is kept. SQLite is single-process; an asyncio lock suffices.
- Low latency without busy polling: a commit in this process wakes the relay, and on
  PostgreSQL a trigger on ``outbox`` sends ``NOTIFY venta_outbox`` that every relay
  ``LISTEN``s to; ``relay_interval_seconds`` is only the fallback.
- Tracing: each message carries the W3C trace context stored with its outbox row
  (``traceparent``, ``tracestate`` headers), so the worker's handling joins the trace of the
  request that added the event. When tracing is on in the relay's process, each event's publish
  is a PRODUCER span ``publish <subject>`` whose parent is that stored context, and the headers
  carry the producer span instead. One span per event rather than one per batch with links: the
  events of a batch come from different requests, and each request's trace then shows its
  publish as a step of its own.
- ``echo``: the in-process bus gets each event too, after it is marked sent, for subscribers of
  ``<prefix>.events.*`` on the core bus (JetStream delivers to those by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.errors import ServiceUnavailable
from venta_core.events import event_subject
from venta_core.observability import tracing
from venta_core.ports.bus import EventBus
from venta_core.ports.stream import (
    EventStream,
    NoStreamError,
    OutgoingMessage,
    PublishAck,
    StreamSpec,
)
from venta_core.settings import EventsSettings, Settings
from venta_core.store import outbox
from venta_core.store.engine import Database
from venta_core.store.outbox import StoredEvent
from venta_core.store.tables import outbox as outbox_table

__all__ = [
    "NOTIFY_CHANNEL",
    "OutboxRelay",
    "dlq_stream_name",
    "stream_name",
    "stream_specs",
    "waves",
]

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock of the relay ("venta" + 2); migrations use "venta".
RELAY_LOCK_KEY = 0x76656E74610002
#: Channel of the ``outbox`` insert trigger (migration 0002).
NOTIFY_CHANNEL = "venta_outbox"
#: A commit hint fires just before the database commits; look again this soon if it was early.
HINT_RECHECK_SECONDS = 0.02
PURGE_EVERY_SECONDS = 600.0
#: How the outbox insert of ``store.outbox.add_event`` starts, as the database receives it.
_OUTBOX_INSERT = f"INSERT INTO {outbox_table.name} "
_DIRTY = "venta_outbox_dirty"
LISTEN_RETRY_SECONDS = 5.0


def stream_name(settings: Settings) -> str:
    return settings.events.stream_name or settings.key_prefix.upper()


def dlq_stream_name(settings: Settings) -> str:
    return f"{stream_name(settings)}_DLQ"


def stream_specs(settings: Settings) -> list[StreamSpec]:
    """The event stream (``<prefix>.events.>``) and its dead-letter stream (``<prefix>.dlq.>``)."""
    ev: EventsSettings = settings.events
    prefix = settings.key_prefix
    common: dict[str, Any] = {
        "storage": ev.storage,
        "replicas": ev.replicas,
        "duplicate_window_seconds": ev.duplicate_window_seconds,
    }
    return [
        StreamSpec(
            name=stream_name(settings),
            subjects=(f"{prefix}.events.>",),
            retention=ev.retention,
            max_age_seconds=ev.max_age_seconds,
            max_msgs=ev.max_msgs,
            max_bytes=ev.max_bytes,
            **common,
        ),
        StreamSpec(
            name=dlq_stream_name(settings),
            subjects=(f"{prefix}.dlq.>",),
            max_age_seconds=ev.dlq_max_age_seconds,
            **common,
        ),
    ]


class OutboxRelay:
    name = "outbox-relay"

    def __init__(
        self,
        db: Database,
        stream: EventStream,
        settings: Settings,
        *,
        echo: EventBus | None = None,
    ) -> None:
        self._db = db
        self._stream = stream
        self._echo = echo
        self._prefix = settings.key_prefix
        self._settings = settings.events
        self._specs = stream_specs(settings)
        #: Whether a batch with several events of a vendor can go out at once (``_publish``).
        self._chains = bool(getattr(stream, "checks_expected_last_msg_id", False))
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._hinted = False
        self._lock = asyncio.Lock()
        self._own: set[int] = set()  # connections of the relay itself: their commits are no hint
        self._engine: Engine | None = None
        self._listener: Any = None  # asyncpg connection LISTENing on NOTIFY_CHANNEL
        self._listen_retry_at = 0.0
        self._purged_at = 0.0
        self.published = 0
        self.failed_passes = 0

    def notify(self) -> None:
        """Ask for a relay pass now (after a commit) instead of at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is not None or not self._settings.relay_enabled:
            return
        self._engine = self._db.engine.sync_engine
        for name, hook in self._hooks():
            sa.event.listen(self._engine, name, hook)
        self._wake.set()  # rows left by a stopped relay (or another process) go out at once
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():  # a cancellation can be lost inside wait_for (3.11)
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()
        if self._engine is not None:
            for name, hook in self._hooks():
                sa.event.remove(self._engine, name, hook)
            self._engine = None
        await self._unlisten()
        try:
            await asyncio.wait_for(self.relay_pending(), timeout=5)
        except Exception:
            log.warning("outbox not fully relayed at shutdown; it resumes at next start")

    def _hooks(self) -> list[tuple[str, Any]]:
        return [
            ("before_cursor_execute", self._on_execute),
            ("commit", self._on_commit),
            ("rollback", self._on_rollback),
        ]

    def _on_execute(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(_OUTBOX_INSERT):
            conn.info[_DIRTY] = True

    def _on_commit(self, conn: Any) -> None:
        """A commit of this process that added outbox rows. Not needed while PostgreSQL
        notifies (it does so after the commit, which this hook precedes)."""
        if _pop_dirty(conn) and id(conn) not in self._own and not self._listening:
            self._hinted = True
            self._wake.set()

    def _on_rollback(self, conn: Any) -> None:
        _pop_dirty(conn)

    @property
    def _listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def _run(self) -> None:
        interval = self._settings.relay_interval_seconds
        recheck = False
        warned = False  # once per run of failed passes, not every pass
        while True:
            await self._listen()
            with contextlib.suppress(TimeoutError):
                wait = HINT_RECHECK_SECONDS if recheck else interval
                async with asyncio.timeout(wait):  # not wait_for: see stream_memory.fetch
                    await self._wake.wait()
            self._wake.clear()
            hinted, self._hinted = self._hinted, False
            try:
                sent = await self.relay_pending()
                # A commit hint fires just before the commit lands: if the pass found nothing,
                # look once more shortly.
                recheck = hinted and sent == 0
                await self._purge()
            except Exception as exc:
                recheck = False
                self.failed_passes += 1
                # A database outage is logged once by the database's Dependency.
                if not (warned or isinstance(exc, ServiceUnavailable)):
                    log.warning("outbox relay pass failed; retrying every %gs: %s", interval, exc)
                    warned = True
                await asyncio.sleep(interval)
            else:
                if warned:
                    log.info("outbox relay passes succeed again")
                warned = False

    async def relay_pending(self) -> int:
        """Publish every pending event, oldest first. Returns how many were published (0 when
        another process's relay holds the lock)."""
        total = 0
        async with self._lock:
            while True:
                sent, more = await self._relay_batch()
                total += sent
                if not more:
                    return total

    async def _relay_batch(self) -> tuple[int, bool]:
        """One batch: (published, whether more may be pending).

        PostgreSQL: read, publish and mark in one transaction holding the advisory lock.
        SQLite: read, publish, then mark in a write transaction of its own (a read transaction
        upgraded to write after another connection committed would fail with SQLITE_BUSY).
        """
        batch = self._settings.relay_batch
        contexts: outbox.TraceContexts = {}
        if self._db.is_sqlite:
            async with self._db.connect() as conn:
                pending = await outbox.pending_stored(conn, batch, contexts)
            if not pending:
                return 0, False
            sent, published, failure = await self._publish(pending, contexts)
            async with self._own_transaction() as conn:
                await outbox.mark_sent(conn, sent)
        else:
            async with self._own_transaction() as conn:
                # Claimed (read and marked in one statement) before publishing, in the open
                # transaction (rolled back on error), so that only the commit is left once the
                # stream confirms: subscribers of the subject see an event as soon as stored.
                # The same statement takes the advisory lock (nothing is claimed while another
                # relay holds it) and lets the commit skip waiting for its WAL flush: a mark
                # lost in a database crash only makes the relay publish the event again, which
                # the stream drops as a copy; it frees the lock and shows the rows as sent
                # sooner. One round trip to the database before publishing.
                pending = await outbox.claim_pending(conn, batch, contexts, lock_key=RELAY_LOCK_KEY)
                if not pending:
                    return 0, False
                sent, published, failure = await self._publish(pending, contexts)
                await outbox.unmark(conn, sorted({e.seq for e in pending} - set(sent)))
        self.published += len(published)
        await self._echo_events(published, contexts)
        if failure is not None:
            await self._recover(failure)
            raise failure
        return len(published), len(pending) == batch

    async def _publish(
        self, pending: list[StoredEvent], contexts: outbox.TraceContexts
    ) -> tuple[list[int], list[StoredEvent], Exception | None]:
        """Publish ``pending``; the outbox seqs and events stored, and the first failure.

        Per vendor, the stream must store events in outbox order even when a publish fails.
        A batch whose vendors have one event each is published at once. Otherwise, on a
        stream that checks ``expected_last_msg_id``, the batch goes out at once as a chain
        (each message stored only after the one before it, so what is stored is a prefix of
        the batch), and what the chain did not store (a lost message and those after it, or
        a chain broken by another publisher or a copy the stream dropped) goes out again in
        waves (see ``waves``): each wave published at once, the next only after it is
        confirmed. After a failure, the later events of its vendor are held back. A chain
        of which nothing was stored ends the pass with its first failure (a stream that is
        down is not asked again, and waited for again, in the same pass).

        ``contexts`` holds the trace context stored with each event (by id); with tracing on,
        an event's entry becomes the context of its publish span (what the message carried)."""
        sent: list[int] = []
        published: list[StoredEvent] = []
        planned = waves(pending)
        if len(planned) > 1 and self._chains:
            left = []
            # The spans' contexts of what the chain stored; what goes out again in waves is
            # published as a child of its stored context, as in the next pass.
            tried = dict(contexts)
            results = await self._publish_wave(pending, tried, chained=True)
            for event, result in zip(pending, results, strict=True):
                if isinstance(result, PublishAck):
                    sent.append(event.seq)
                    published.append(event)
                    if event.id in tried:
                        contexts[event.id] = tried[event.id]
                else:
                    left.append(event)
            first = results[0]
            if not sent and isinstance(first, Exception):
                # Refused from its first message on: the stream is failing, not a message of
                # it; the pass ends as a failed wave's would.
                return [], [], first
            planned = waves(left)
        failure: Exception | None = None
        held: set[str] = set()
        for wave in planned:
            wave = [event for event in wave if event.order_key not in held]
            if not wave:
                continue
            results = await self._publish_wave(wave, contexts)
            for event, result in zip(wave, results, strict=True):
                if isinstance(result, PublishAck):
                    sent.append(event.seq)
                    published.append(event)
                else:
                    held.add(event.order_key)
                    failure = failure or result
        return sent, published, failure

    async def _publish_wave(
        self, wave: list[StoredEvent], contexts: outbox.TraceContexts, *, chained: bool = False
    ) -> list[PublishAck | Exception]:
        """Publish ``wave`` pipelined, one span each; ``chained``: each message expects the
        one before it as the stream's last."""
        with contextlib.ExitStack() as stack:
            spans = self._publish_spans(wave, contexts, stack)
            before = [None, *(event.id for event in wave[:-1])] if chained else [None] * len(wave)
            messages = [
                self._message(event, contexts.get(event.id), after)
                for event, after in zip(wave, before, strict=True)
            ]
            results = await self._stream.publish_batch(
                messages, confirm_within=self._settings.publish_timeout_seconds
            )
            for span, result in zip(spans, results, strict=True):
                if not isinstance(result, PublishAck):
                    tracing.fail_span(span, result)
        return results

    @contextlib.asynccontextmanager
    async def _own_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction whose commit does not wake the relay itself."""
        async with self._db.begin() as conn:
            own = id(conn.sync_connection)
            self._own.add(own)
            try:
                yield conn
            finally:
                self._own.discard(own)

    def _publish_spans(
        self,
        wave: list[StoredEvent],
        contexts: outbox.TraceContexts,
        stack: contextlib.ExitStack,
    ) -> list[Any]:
        """One PRODUCER span per event of ``wave``, open until ``stack`` closes, each a child
        of the context stored with its event; ``contexts`` then holds the spans' contexts
        (what the messages carry). ``None`` for each when tracing is off."""
        if not tracing.active():
            return [None] * len(wave)
        spans = []
        for event in wave:
            subject = event_subject(self._prefix, event.type)
            span = stack.enter_context(
                tracing.messaging_span(
                    f"publish {subject}",
                    "producer",
                    parent=contexts.get(event.id),
                    attributes={
                        "messaging.operation.type": "send",
                        "messaging.operation.name": "publish",
                        "messaging.destination.name": subject,
                        "messaging.message.id": event.id,
                    },
                    current=False,
                )
            )
            contexts[event.id] = tracing.inject_context(tracing.context_of(span))
            spans.append(span)
        return spans

    def _message(
        self, event: StoredEvent, trace: Mapping[str, str] | None = None, after: str | None = None
    ) -> OutgoingMessage:
        """The stream message of ``event``; ``trace`` (W3C trace context headers) rides in
        its headers; ``after``: the id of the event it must follow in the stream."""
        headers = {"X-Request-ID": event.request_id} if event.request_id else {}
        if trace:
            headers.update(trace)
        return OutgoingMessage(
            subject=event_subject(self._prefix, event.type),
            data=event.body,
            msg_id=event.id,
            headers=headers,
            expected_last_msg_id=after,
        )

    async def _echo_events(self, events: list[StoredEvent], contexts: outbox.TraceContexts) -> None:
        if self._echo is None:
            return
        for event in events:
            message = self._message(event, contexts.get(event.id))
            try:
                await self._echo.publish(message.subject, message.data, message.headers)
            except Exception:
                log.warning("echo of %s on the bus failed", event.type, exc_info=True)

    async def _recover(self, failure: Exception) -> None:
        """A stream lost with the broker's storage is created again before the retry."""
        if isinstance(failure, NoStreamError):
            for spec in self._specs:
                with contextlib.suppress(Exception):
                    await self._stream.ensure_stream(spec)

    async def pending_count(self) -> int:
        """Outbox rows not relayed yet (the relay's lag)."""
        async with self._db.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count()).where(outbox_table.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def _purge(self) -> None:
        """Delete relayed rows past their retention, at most every ``PURGE_EVERY_SECONDS``."""
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        cutoff = datetime.now(UTC) - timedelta(hours=self._settings.outbox_retention_hours)
        old = (
            sa.select(outbox_table.c.seq)
            .where(outbox_table.c.sent_at.is_not(None), outbox_table.c.sent_at < cutoff)
            .limit(10_000)
            .scalar_subquery()
        )
        async with self._own_transaction() as conn:
            result = await conn.execute(outbox_table.delete().where(outbox_table.c.seq.in_(old)))
        if result.rowcount:
            log.info("deleted %d relayed outbox rows", result.rowcount)

    # -- PostgreSQL LISTEN ---------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._db.is_sqlite or time.monotonic() < self._listen_retry_at:
            return
        if self._listening:
            return
        import asyncpg

        self._listen_retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
        url = self._db.engine.url.set(drivername="postgresql")
        try:
            conn = await asyncio.wait_for(
                asyncpg.connect(url.render_as_string(hide_password=False)), timeout=5
            )
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except Exception as exc:
            log.debug("LISTEN %s unavailable (polling): %s", NOTIFY_CHANNEL, exc)
            return
        self._listener = conn

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)


def waves(pending: list[StoredEvent]) -> list[list[StoredEvent]]:
    """The first event of each vendor, in outbox order, then the second of each, ...: each
    wave is published at once, the next only after it is confirmed, so the events of a vendor
    are stored in outbox order even when a publish fails. What the events of one vendor (or
    user) have in common is their ``order_key``."""
    out: list[list[StoredEvent]] = []
    seen: dict[str, int] = {}
    for event in pending:
        n = seen.get(event.order_key, 0)
        seen[event.order_key] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(event)
    return out


def _pop_dirty(conn: Any) -> bool:
    """Take the connection's "added outbox rows" mark.

    A connection SQLAlchemy invalidated (a cancellation or a lost connection inside a
    statement) has no mark left (the pool clears it with the connection), and reading
    ``conn.info`` would raise ``PendingRollbackError`` from inside the rollback that cleans up
    after it: the cancellation of a relay pass stopped mid-write became a failed pass and the
    transaction's rollback was cut short."""
    if conn.invalidated:
        return False
    return bool(conn.info.pop(_DIRTY, False))
