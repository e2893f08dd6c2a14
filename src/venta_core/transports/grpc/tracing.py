"""gRPC's part of tracing (``observability.tracing``): the maintained grpc.aio interceptors,
installed only when tracing is on."""

from __future__ import annotations

from typing import Any

import grpc.aio

from venta_core.observability.tracing import provider

__all__ = ["client_interceptors", "server_interceptors"]

#: Probes, not requests: the standard health and reflection services are not traced.
_UNTRACED = ("/grpc.health.", "/grpc.reflection.")


class _ServiceCallTracing(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The maintained server interceptor for venta's own services only. Besides being noise,
    the health service's ``Watch`` would break under it: the interceptor expects streaming
    handlers to be async generators, and ``Watch`` writes to its context instead."""

    def __init__(self, traced: Any) -> None:
        self._traced = traced

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        if details.method.startswith(_UNTRACED):
            return await continuation(details)
        return await self._traced.intercept_service(continuation, details)


def server_interceptors() -> list[Any]:
    """The server interceptor when tracing is on, else nothing."""
    tracer_provider = provider()
    if tracer_provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    traced = aio_server_interceptor(tracer_provider=tracer_provider)  # type: ignore[no-untyped-call]
    return [_ServiceCallTracing(traced)]


def client_interceptors() -> list[Any]:
    """The client interceptors (they put the W3C ``traceparent`` in each call's metadata) when
    tracing is on, else nothing."""
    tracer_provider = provider()
    if tracer_provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=tracer_provider))  # type: ignore[no-untyped-call]
