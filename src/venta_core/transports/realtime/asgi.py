"""The ASGI applications of the ``ws`` role: Socket.IO plus the operational endpoints."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from venta_core.observability.health import liveness, readiness
from venta_core.observability.metrics import new_registry, render
from venta_core.transports.realtime.gateway import RealtimeApp, RealtimeGateway
from venta_core.transports.realtime.metrics import RealtimeMetrics

__all__ = ["create_realtime_gateway", "operations_app"]

READINESS_TIMEOUT_SECONDS = 5.0


def create_realtime_gateway(
    app: RealtimeApp, *, registry: CollectorRegistry | None = None
) -> RealtimeGateway:
    """The gateway of ``app``; ``registry`` lets it share the HTTP gateway's metrics."""
    return RealtimeGateway(
        app, RealtimeMetrics(registry if registry is not None else new_registry())
    )


def operations_app(app: RealtimeApp, registry: CollectorRegistry) -> Any:
    """``/health``, ``/ready`` and ``/metrics`` for a ``venta serve ws`` port."""

    async def health(_: Request) -> Response:
        return JSONResponse(liveness())

    async def ready(_: Request) -> Response:
        ok, body = await readiness(app.readiness, READINESS_TIMEOUT_SECONDS)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        content, media_type = render(registry)
        return Response(content, media_type=media_type)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
