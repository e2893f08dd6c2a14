"""Tracing of the real-time path (tracing on in the test process): each ``updateVendorLocation``
runs in a SERVER span, the live message it publishes carries that trace's context, and the
fan-out of a gateway that watches the cell runs in a span linked to it. With tracing off the
live message carries no trace context."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.events.helpers import wait_until
from tests.realtime.harness import Server, box, client, running, subject
from tests.spans import named, recording_spans
from venta_core.observability import tracing
from venta_core.ports.bus import BusMessage
from venta_core.settings import Settings

BERLIN = box((52.50, 13.38), (52.54, 13.43))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording_spans() as spans:
        yield spans


async def _update_watched(server: Server, live: list[BusMessage]) -> None:
    """A vendor moves twice in a watched viewport; ``live`` gets the live messages."""
    owner = subject()
    vendor_id = await server.vendor(owner)
    prefix = server.app.settings.key_prefix

    async def record(message: BusMessage) -> None:
        live.append(message)

    subscription = await server.app.bus.subscribe(f"{prefix}.live.*.{vendor_id}", record)
    try:
        async with (
            client(server, "/vendor", server.token(owner)) as vendor,
            client(server, "/user", server.token(subject())) as user,
        ):
            await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.405})
            await server.located(vendor_id, 52.52, 13.405)
            await user.emit("updateUserLocation", BERLIN)
            await user.next("vendor_channels")
            await vendor.emit("updateVendorLocation", {"lat": 52.521, "long": 13.406})
            assert (await user.next("vendor_sync"))["id"] == vendor_id

        async def both() -> bool:
            return len(live) >= 2

        await wait_until(both)
    finally:
        await subscription.unsubscribe()


async def test_a_location_update_is_traced_to_the_fan_out(
    exporter: InMemorySpanExporter, rt_settings: Settings
) -> None:
    live: list[BusMessage] = []
    async with running(rt_settings) as server:
        await _update_watched(server, live)

        async def fanned_out() -> bool:
            return any(s.links for s in named(exporter, "process live"))

        await wait_until(fanned_out)

    updates = named(exporter, "updateVendorLocation /vendor")
    assert len(updates) == 2
    assert all(s.kind is trace.SpanKind.SERVER for s in updates)
    traces = {s.context.trace_id for s in updates}
    # Each live message carries the context of a span in its update's trace.
    for message in live:
        traceparent = message.headers["traceparent"]
        assert int(traceparent.split("-")[1], 16) in traces, traceparent
    # The fan-out of the second update (the viewport was watched by then) links to it.
    fan_outs = [s for s in named(exporter, "process live") if s.links]
    assert fan_outs and all(s.kind is trace.SpanKind.CONSUMER for s in fan_outs)
    assert {link.context.trace_id for s in fan_outs for link in s.links} <= traces
    assert all(s.parent is None for s in fan_outs)  # a trace of its own, linked
    subjects = {m.subject for m in live}
    assert all(s.attributes["messaging.destination.name"] in subjects for s in fan_outs)


async def test_tracing_off_sends_no_trace_context_on_the_bus(rt_settings: Settings) -> None:
    live: list[BusMessage] = []
    async with running(rt_settings) as server:
        await _update_watched(server, live)
    assert live and all("traceparent" not in m.headers for m in live)


async def test_an_event_answered_with_an_error_names_it_on_its_span(
    exporter: InMemorySpanExporter, rt_settings: Settings
) -> None:
    """A client's mistake is named (``error.type``) without marking the span failed, as a 4xx
    is not a failure of an HTTP server span; the server's own fault is marked failed."""
    async with running(rt_settings) as server:
        owner = subject()
        await server.vendor(owner)
        async with client(server, "/vendor", server.token(owner)) as vendor:
            await vendor.emit("updateVendorLocation", {"lat": 95, "long": 13.4})
            assert (await vendor.next("error"))["code"] == "VALIDATION_ERROR"

    (span,) = named(exporter, "updateVendorLocation /vendor")
    assert span.attributes["error.type"] == "VALIDATION_ERROR"
    assert span.status.status_code is trace.StatusCode.UNSET

    with tracing.server_span("failing", {}):
        tracing.answered_with_error("INTERNAL", fault=True)
    (failed,) = named(exporter, "failing")
    assert failed.attributes["error.type"] == "INTERNAL"
    assert failed.status.status_code is trace.StatusCode.ERROR
