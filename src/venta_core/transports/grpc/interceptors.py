"""Server interceptors that observe calls: Prometheus metrics and one access log line per call.

``build_grpc_server`` chains them around the identity check like this (outermost first)::

    MetricsServerInterceptor -> IdentityServerInterceptor -> AccessLogServerInterceptor -> servicer

so metrics count every call, including those refused for a bad identity, while the access log
line is written inside the caller's request context: it carries the caller's request id (the
gateway's ``X-Request-ID``) and the acting user id like every other log line of the call.
Calls refused by the identity check are logged by that check itself. Only unary-unary methods
are observed (every venta RPC is one); the health service's ``Watch`` stream passes untouched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc.aio

from venta_core.observability.grpc_metrics import GrpcServerMetrics, split_method

__all__ = [
    "AccessLogServerInterceptor",
    "Behaviour",
    "MetricsServerInterceptor",
    "status_name",
    "wrap_unary",
]

access_log = logging.getLogger("venta.grpc.access")

#: Methods polled by probes: their access lines are logged at DEBUG.
QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def status_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status code a call ended with, as its name (``OK``, ``NOT_FOUND``, ...)."""
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if error is not None:  # an exception gRPC will answer with UNKNOWN
        return "UNKNOWN"
    return "OK"


def wrap_unary(handler: Any, around: Callable[[Behaviour], Behaviour]) -> Any:
    """``handler`` with its unary-unary behaviour wrapped by ``around``; others unchanged."""
    if handler is None or handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        around(handler.unary_unary),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class MetricsServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts calls by service, method and status code and times them."""

    def __init__(self, metrics: GrpcServerMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        metrics = self.metrics
        gauge = metrics.in_progress.labels(split_method(method)[0])

        def around(inner: Behaviour) -> Behaviour:
            async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                error: BaseException | None = None
                gauge.inc()
                try:
                    return await inner(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    gauge.dec()
                    seconds = time.perf_counter() - started
                    metrics.observe(method, status_name(context, error), seconds)

            return behaviour

        return wrap_unary(handler, around)


class AccessLogServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Writes one line per call: method, status code and duration (never the payload)."""

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        level = logging.DEBUG if method.startswith(QUIET_PREFIXES) else logging.INFO

        def around(inner: Behaviour) -> Behaviour:
            async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                error: BaseException | None = None
                try:
                    return await inner(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    if access_log.isEnabledFor(level):
                        duration_ms = round((time.perf_counter() - started) * 1000, 2)
                        code = status_name(context, error)
                        access_log.log(
                            level,
                            "%s %s %.2fms",
                            method,
                            code,
                            duration_ms,
                            extra={"grpc_method": method, "code": code, "duration_ms": duration_ms},
                        )

            return behaviour

        return wrap_unary(handler, around)
