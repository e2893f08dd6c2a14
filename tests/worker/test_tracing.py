"""The event path's trace, on the embedded backends and on PostgreSQL + JetStream: with tracing
on, the outbox row keeps the inserting request's trace context, the relay publishes each event
in a PRODUCER span of that trace and puts its context in the message headers, and the worker
handles the event (one at a time or in a batch) in a CONSUMER span below it, so the handler
runs inside the request's trace. With tracing off nothing is stored or sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.events.helpers import wait_until
from tests.spans import recording_spans
from tests.worker.conftest import StartApp
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.events import EventEnvelope, EventHandler
from venta_core.hookspecs import hookimpl
from venta_core.observability import tracing
from venta_core.ports.stream import ConsumerSpec
from venta_core.store.tables import outbox

pytestmark = pytest.mark.integration


class Recorder:
    """A plugin with two ``vendor.created`` handlers, one taking events one by one and one
    taking batches; each records the span current while it runs."""

    def __init__(self) -> None:
        self.single: dict[str, trace.SpanContext] = {}
        self.batched: dict[str, trace.SpanContext] = {}

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        return [
            EventHandler("traced-single", {"vendor.created"}, self.handle),
            EventHandler(
                "traced-batch", {"vendor.created"}, self.handle, handle_batch=self.handle_batch
            ),
        ]

    async def handle(self, envelope: EventEnvelope) -> None:
        self.single[envelope.data["name"]] = trace.get_current_span().get_span_context()

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        for envelope in envelopes:
            self.batched[envelope.data["name"]] = trace.get_current_span().get_span_context()

    def saw(self, *names: str) -> bool:
        return all(n in self.single and n in self.batched for n in names)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording_spans() as spans:
        yield spans


async def _create(app: Venta, *names: str) -> dict[str, str]:
    """Vendors named ``names``: name -> id."""
    owner = Actor.for_user(await app.users.ensure_user("owner"))
    created = {}
    for name in names:
        created[name] = (await app.vendors.create_vendor(owner, VendorCreate(name=name))).id
    return created


async def _outbox_contexts(app: Venta) -> dict[str, tuple[Any, Any]]:
    """vendor id of each ``vendor.created`` row -> (traceparent, tracestate)."""
    async with app.database.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload, outbox.c.traceparent, outbox.c.tracestate).where(
                outbox.c.type == "vendor.created"
            )
        )
        return {r.payload["data"]["id"]: (r.traceparent, r.tracestate) for r in rows}


async def _stored_headers(app: Venta, count: int) -> list[dict[str, str]]:
    """The headers of the first ``count`` ``vendor.created`` messages of the stream."""
    prefix = app.settings.key_prefix
    spec = ConsumerSpec(durable="headers-check", filter_subject=f"{prefix}.events.vendor.created")
    consumer = await app.stream.consumer(spec)
    got = []
    for _ in range(25):
        got += await consumer.fetch(count, 0.2)
        if len(got) >= count:
            break
    await consumer.close()
    return [dict(m.headers) for m in got]


def _by_name(spans: Sequence[ReadableSpan], name: str, group: str | None = None) -> ReadableSpan:
    [span] = [
        s
        for s in spans
        if s.name == name
        and (group is None or (s.attributes or {}).get("messaging.consumer.group.name") == group)
    ]
    return span


def _ids(span: ReadableSpan) -> tuple[int, int]:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id, context.span_id


async def test_one_trace_from_the_request_to_the_handlers(
    start_app: StartApp, exporter: InMemorySpanExporter
) -> None:
    recorder = Recorder()
    app = await start_app(plugins=[recorder])
    tracer = tracing.provider().get_tracer("test")
    with tracer.start_as_current_span("request", kind=trace.SpanKind.SERVER) as request:
        vendor_id = (await _create(app, "Traced Tacos"))["Traced Tacos"]
    trace_id, request_id = request.get_span_context().trace_id, request.get_span_context().span_id

    async def handled() -> bool:
        names = {s.name for s in exporter.get_finished_spans()}
        return recorder.saw("Traced Tacos") and "process vendor.created" in names

    await wait_until(handled)
    prefix = app.settings.key_prefix
    spans = exporter.get_finished_spans()

    # The outbox row kept the request's context: its span was current at the insert.
    traceparent, _ = (await _outbox_contexts(app))[vendor_id]
    assert traceparent.startswith(f"00-{trace_id:032x}-{request_id:016x}-")

    publish = _by_name(spans, f"publish {prefix}.events.vendor.created")
    assert publish.kind is trace.SpanKind.PRODUCER
    assert publish.parent is not None and publish.parent.span_id == request_id
    assert _ids(publish)[0] == trace_id
    attributes = dict(publish.attributes or {})
    assert attributes["messaging.system"] == "nats"
    assert attributes["messaging.destination.name"] == f"{prefix}.events.vendor.created"
    event_id = attributes["messaging.message.id"]

    # The message carries the publish span's context.
    headers = [h for h in await _stored_headers(app, 1) if h.get("Nats-Msg-Id") == event_id]
    assert headers and headers[0]["traceparent"].startswith(
        f"00-{trace_id:032x}-{_ids(publish)[1]:016x}-"
    )

    # Each handler ran in a CONSUMER span, a child of the publish span.
    for group, seen in (
        (f"{prefix}-traced-single", recorder.single),
        (f"{prefix}-traced-batch", recorder.batched),
    ):
        process = _by_name(spans, "process vendor.created", group)
        assert process.kind is trace.SpanKind.CONSUMER
        assert process.parent is not None and process.parent.span_id == _ids(publish)[1]
        assert _ids(process)[0] == trace_id
        assert (process.attributes or {})["messaging.message.id"] == event_id
        context = seen["Traced Tacos"]
        assert (context.trace_id, context.span_id) == _ids(process)


async def test_a_batch_of_several_traces_is_linked_to_each(
    start_app: StartApp, exporter: InMemorySpanExporter
) -> None:
    recorder = Recorder()
    app = await start_app(plugins=[recorder], worker=False)
    tracer = tracing.provider().get_tracer("test")
    requests = {}
    for name in ("First", "Second"):
        with tracer.start_as_current_span(f"request {name}") as span:
            await _create(app, name)
        requests[name] = span.get_span_context().trace_id
    await app.relay.relay_pending()  # stored together: the worker fetches one batch of both
    app.enable_worker()
    await app.worker.start()  # type: ignore[union-attr]
    try:

        async def handled() -> bool:
            return recorder.saw("First", "Second") and any(
                s.name == "process vendor.created"
                and (s.attributes or {}).get("messaging.batch.message_count") == 2
                for s in exporter.get_finished_spans()
            )

        await wait_until(handled)
    finally:
        await app.worker.stop()  # type: ignore[union-attr]
    group = f"{app.settings.key_prefix}-traced-batch"
    spans = [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("messaging.consumer.group.name") == group
    ]
    [batch] = [s for s in spans if (s.attributes or {}).get("messaging.batch.message_count")]
    assert batch.parent is None and {link.context.trace_id for link in batch.links} == set(
        requests.values()
    )
    # The handler ran in the batch span; each event also has a span in its own trace.
    assert recorder.batched["First"].span_id == _ids(batch)[1]
    singles = [s for s in spans if s is not batch]
    assert {_ids(s)[0] for s in singles} == set(requests.values())
    assert all([link.context.span_id for link in s.links] == [_ids(batch)[1]] for s in singles)


async def test_tracing_off_stores_and_sends_no_trace_context(start_app: StartApp) -> None:
    assert not tracing.active()
    recorder = Recorder()
    app = await start_app(plugins=[recorder])
    created = await _create(app, "Plain Pho")

    async def handled() -> bool:
        return recorder.saw("Plain Pho")

    await wait_until(handled)

    assert (await _outbox_contexts(app))[created["Plain Pho"]] == (None, None)
    [headers] = await _stored_headers(app, 1)
    assert "Nats-Msg-Id" in headers
    assert "traceparent" not in headers and "tracestate" not in headers
    assert not recorder.single["Plain Pho"].is_valid
    assert not recorder.batched["Plain Pho"].is_valid


async def test_a_relay_without_tracing_passes_the_stored_context_on(
    start_app: StartApp,
) -> None:
    """The process that wrote the event traced, the relay's does not: the message carries the
    stored context unchanged, so a traced worker still joins the request's trace."""
    app = await start_app(worker=False)
    with recording_spans() as spans:
        tracer = tracing.provider().get_tracer("test")
        with tracer.start_as_current_span("request"):
            vendor_id = (await _create(app, "Handed On"))["Handed On"]
    assert not tracing.active() and spans.get_finished_spans()
    stored, state = (await _outbox_contexts(app))[vendor_id]
    assert stored is not None and state is None

    await app.relay.relay_pending()

    [headers] = await _stored_headers(app, 1)
    assert headers["traceparent"] == stored
    assert "tracestate" not in headers
