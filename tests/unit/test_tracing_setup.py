"""When tracing is on (the standard OTEL_* variables) and which service name each process gets.

Spans themselves are proven end to end in tests/e2e/test_tracing.py; here, that a process with
no OTEL_* variable installs nothing (the request path stays as it was) and that the variables
are read as every OpenTelemetry SDK reads them.
"""

from __future__ import annotations

import logging

import pytest

from venta_core.observability import tracing
from venta_core.observability.logging import ContextFilter
from venta_core.transports.grpc.tracing import client_interceptors, server_interceptors


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # a name alone exports nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ],
)
def test_tracing_is_on_only_when_the_environment_asks(
    environ: dict[str, str], expected: bool
) -> None:
    assert tracing.tracing_requested(environ) is expected


@pytest.mark.parametrize(
    ("roles", "services", "name"),
    [
        (["gateway", "ws", "worker"], (), "venta"),
        (["gateway"], (), "venta-gateway"),
        (["ws"], (), "venta-ws"),
        (["worker"], (), "venta-worker"),
        ([], ["vendor"], "venta-vendor"),
        ([], ["user"], "venta-user"),
        ([], ["location"], "venta-location"),
        ([], ["user", "vendor"], "venta-grpc"),
        (["gateway", "reports"], (), "venta"),
    ],
)
def test_each_role_names_its_service(roles: list[str], services: list[str], name: str) -> None:
    assert tracing.process_service_name(roles, services) == name


def test_without_variables_nothing_is_installed() -> None:
    assert tracing.configure_tracing("venta-gateway", {}) is False
    assert not tracing.active()
    assert server_interceptors() == []
    assert client_interceptors() == []
    app = object()
    tracing.instrument_http_app(app)  # no-op: nothing to wrap when off


def test_log_records_carry_no_trace_fields_when_tracing_is_off() -> None:
    record = logging.makeLogRecord({"msg": "hello"})
    assert ContextFilter().filter(record)
    assert not hasattr(record, "trace_id") and not hasattr(record, "span_id")


@pytest.mark.parametrize(
    ("environ", "module"),
    [
        ({}, "opentelemetry.exporter.otlp.proto.http.trace_exporter"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "opentelemetry.exporter.otlp.proto.http",
        ),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "opentelemetry.exporter.otlp.proto.grpc"),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            "opentelemetry.exporter.otlp.proto.http",
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, "opentelemetry.sdk.trace.export"),
    ],
)
def test_the_exporter_follows_the_protocol_variables(environ: dict[str, str], module: str) -> None:
    exporter = tracing._exporter(environ)
    try:
        assert type(exporter).__module__.startswith(module), type(exporter)
    finally:
        exporter.shutdown()
