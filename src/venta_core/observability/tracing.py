"""OpenTelemetry tracing: off unless configured, the standard SDK and variables when on.

Tracing is on when the environment asks for it the way every OpenTelemetry SDK is asked:
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set, or
``OTEL_TRACES_EXPORTER`` naming an exporter (``otlp``, ``console``), and ``OTEL_SDK_DISABLED``
not true. Everything else is read by the SDK itself: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the resource), ``OTEL_TRACES_SAMPLER`` and its argument,
``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the default, or ``grpc``), headers, timeouts
and the batch processor's limits.

When tracing is off nothing is installed: no tracer provider, no instrumentation, no middleware,
so the request path costs what it cost before (the OpenTelemetry API alone returns non-recording
spans). When it is on, the maintained instrumentations trace HTTP (FastAPI), gRPC (client and
server interceptors), SQLAlchemy and redis-py; venta writes spans by hand only where no
instrumentation exists: the outbox row keeps the W3C context of the span current at its
insert, the relay publishes each event in a PRODUCER span and puts its context in the message
headers, the worker handles it in a CONSUMER span below it (``messaging_span``); a Socket.IO
event runs in a SERVER span (``server_span``) and the live position it publishes carries its
context for the fan-out's span to link to.

Each process names its resource after its role (``ROLE_SERVICE_NAMES``): ``venta`` for
``venta serve all``, ``venta-gateway``, ``venta-ws``, ``venta-worker``, and ``venta-user``,
``venta-vendor`` or ``venta-location`` for a gRPC service; ``OTEL_SERVICE_NAME`` overrides it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "TRACE_HEADERS",
    "active",
    "answered_with_error",
    "configure_tracing",
    "context_of",
    "current_context",
    "extract_context",
    "extract_headers",
    "fail_span",
    "inject_context",
    "instrument_http_app",
    "instrument_sqlalchemy",
    "messaging_span",
    "process_service_name",
    "provider",
    "server_span",
    "shutdown_tracing",
    "tracing_requested",
]

log = logging.getLogger(__name__)

#: The role a process plays -> its default ``service.name``.
ROLE_SERVICE_NAMES = {
    "all": "venta",
    "gateway": "venta-gateway",
    "ws": "venta-ws",
    "worker": "venta-worker",
    "user": "venta-user",
    "vendor": "venta-vendor",
    "location": "venta-location",
}

_TRUE = {"true", "1", "yes", "on"}
_provider: Any = None

#: The W3C trace context headers (https://www.w3.org/TR/trace-context/) venta carries with an
#: event: in its outbox row and in the headers of its stream message.
TRACE_HEADERS = ("traceparent", "tracestate")
#: ``messaging.system`` of the event stream's spans.
MESSAGING_SYSTEM = "nats"
_SPAN_KINDS = {"producer", "consumer"}


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (see the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        exporter
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def active() -> bool:
    """Whether this process installed a tracer provider."""
    return _provider is not None


def provider() -> Any:
    """The tracer provider this process installed, or None when tracing is off."""
    return _provider


def process_service_name(roles: Iterable[str], grpc_services: Sequence[str] = ()) -> str:
    """The default ``service.name`` of a process playing ``roles`` (and serving
    ``grpc_services``): one role names itself, several are ``venta`` (``serve all``)."""
    names = sorted(set(roles))
    if grpc_services:
        if len(grpc_services) == 1 and not names:
            return ROLE_SERVICE_NAMES.get(grpc_services[0], f"venta-{grpc_services[0]}")
        return "venta-grpc" if not names else "venta"
    if len(names) == 1:
        return ROLE_SERVICE_NAMES.get(names[0], f"venta-{names[0]}")
    return "venta"


def configure_tracing(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK's tracer provider and the instrumentations when the environment asks
    for tracing; returns whether tracing is on. Calling it again is harmless (the first
    provider stays: OpenTelemetry allows one per process)."""
    global _provider
    if _provider is not None:
        return True
    if not tracing_requested(environ):
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    exporter = _exporter(environ)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    # redis-py and SQLAlchemy are instrumented process-wide, before any client or engine is
    # built; HTTP and gRPC are instrumented where their apps and channels are made.
    RedisInstrumentor().instrument()
    log.info(
        "tracing on: service %s, exporter %s",
        resource.attributes.get(SERVICE_NAME),
        type(exporter).__name__ if exporter is not None else "none",
    )
    return True


def _exporter(environ: Mapping[str, str]) -> Any:
    kind = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported here: use otlp or console", kind)
        return None
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter()


def shutdown_tracing() -> None:
    """Export what is buffered and stop the provider (at process stop)."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def instrument_http_app(app: Any) -> None:
    """Trace a FastAPI application's requests (server spans named by route template)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/health,/ready,/metrics", tracer_provider=_provider
    )


def instrument_sqlalchemy(engine: Any) -> None:
    """Trace an engine's statements (``engine`` is the synchronous core of an async engine)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares SQLAlchemy < 2.1 and would refuse 2.1 with an ERROR line;
    # 2.1 kept the engine events it listens to, and tests/e2e/test_tracing.py proves the
    # statements' spans arrive.
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=_provider, skip_dep_check=True
    )


# -- Trace context of events (the outbox, relay and worker) --------------------------------------


def current_context() -> dict[str, str]:
    """The W3C trace context of the span current here (``traceparent``, and ``tracestate``
    when it has one), or ``{}``: tracing off, no span current or the span not sampled-in
    context. Free when tracing is off (no OpenTelemetry call at all)."""
    if _provider is None:
        return {}
    return inject_context()


def inject_context(context: Any = None) -> dict[str, str]:
    """``context``'s (or the current one's) W3C trace context headers, ``{}`` without a valid
    span."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context)
    return {k: v for k, v in carrier.items() if k in TRACE_HEADERS}


def context_of(span: Any) -> Any:
    """An OpenTelemetry context whose current span is ``span`` (to inject it)."""
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def extract_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The W3C trace context headers among ``headers`` (names in lower case)."""
    return {k.lower(): v for k, v in headers.items() if k.lower() in TRACE_HEADERS}


def extract_context(headers: Mapping[str, str]) -> Any:
    """The OpenTelemetry context the W3C headers among ``headers`` name (matched without case),
    or ``None`` when they name none (absent or malformed)."""
    carrier = extract_headers(headers)
    if "traceparent" not in carrier:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


@contextlib.contextmanager
def messaging_span(
    name: str,
    kind: str,
    *,
    parent: Mapping[str, str] | None = None,
    links: Sequence[Mapping[str, str]] = (),
    attributes: Mapping[str, Any] | None = None,
    current: bool = True,
) -> Iterator[Any]:
    """A PRODUCER or CONSUMER span (``kind``) of the event stream or the bus, following the
    OpenTelemetry messaging conventions (``messaging.system=nats`` plus ``attributes``): its
    parent is the trace context ``parent`` (W3C headers) when given, a new trace otherwise;
    ``links`` are the contexts of the messages of a batch. The span is current inside the
    block when ``current`` (the handler's SQL and HTTP calls join it). Yields ``None`` and does
    nothing when tracing is off. An exception leaving the block is recorded on the span and
    raised again."""
    assert kind in _SPAN_KINDS, kind
    with _span(
        name,
        kind,
        parent=parent,
        links=links,
        attributes={"messaging.system": MESSAGING_SYSTEM, **(attributes or {})},
        current=current,
    ) as span:
        yield span


@contextlib.contextmanager
def server_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A SERVER span, current inside the block, starting a new trace: a message a client sent
    without trace context (a Socket.IO event). ``None`` and nothing done when tracing is off."""
    with _span(name, "server", attributes=attributes) as span:
        yield span


@contextlib.contextmanager
def _span(
    name: str,
    kind: str,
    *,
    parent: Mapping[str, str] | None = None,
    links: Sequence[Mapping[str, str]] = (),
    attributes: Mapping[str, Any] | None = None,
    current: bool = True,
) -> Iterator[Any]:
    if _provider is None:
        yield None
        return
    from opentelemetry import trace
    from opentelemetry.context import Context

    kinds = {
        "producer": trace.SpanKind.PRODUCER,
        "consumer": trace.SpanKind.CONSUMER,
        "server": trace.SpanKind.SERVER,
    }
    context = extract_context(parent) if parent else None
    span_links = []
    for carrier in links:
        linked = extract_context(carrier)
        if linked is not None:
            span_links.append(trace.Link(trace.get_current_span(linked).get_span_context()))
    tracer = _provider.get_tracer("venta_core")
    span = tracer.start_span(
        name,
        # no parent given: a new trace, not a child of whatever span happens to be current
        context=context if context is not None else Context(),
        kind=kinds[kind],
        attributes=dict(attributes or {}),
        links=span_links,
    )
    if current:
        with trace.use_span(span, end_on_exit=True):
            yield span
        return
    try:
        yield span
    except BaseException as exc:
        fail_span(span, exc)
        raise
    finally:
        span.end()


def answered_with_error(code: str, *, fault: bool) -> None:
    """The current span's message was answered with the error ``code`` (a Socket.IO ``error``
    event): ``error.type`` names it, and the span is marked failed when the fault is the
    server's, as an HTTP server span is for a 5xx and not for a 4xx."""
    if _provider is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("error.type", code)
    if fault:
        span.set_status(trace.Status(trace.StatusCode.ERROR, code))


def fail_span(span: Any, error: BaseException) -> None:
    """Record ``error`` on ``span`` (from ``messaging_span``; ``None`` when tracing is off) and
    mark it failed: for outcomes reported rather than raised (a publish of a batch)."""
    if span is None:
        return
    from opentelemetry import trace

    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
