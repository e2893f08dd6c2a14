"""Tracing on in the test process, its spans kept in memory (the tracing tests' fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from venta_core.observability import tracing


@contextlib.contextmanager
def recording_spans() -> Iterator[InMemorySpanExporter]:
    """Install a tracer provider for the block, as ``configure_tracing`` would (without the
    process-wide instrumentations): ``tracing.active()`` is true and every finished span lands
    in the yielded exporter. Engines started meanwhile are instrumented; that stops after."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    spans = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "venta-test"}))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tracing, "_provider", provider)
            yield spans
    finally:
        with contextlib.suppress(Exception):
            SQLAlchemyInstrumentor().uninstrument()
        provider.shutdown()


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]
