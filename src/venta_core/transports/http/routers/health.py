"""Operational endpoints: liveness, readiness, Prometheus metrics. No auth, no rate limit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from venta_core.observability.health import liveness, readiness
from venta_core.observability.metrics import HttpMetrics, render
from venta_core.transports import VentaApp
from venta_core.transports.http.schemas import HealthResponse, ReadyResponse

__all__ = ["READINESS_TIMEOUT_SECONDS", "router"]

READINESS_TIMEOUT_SECONDS = 5.0

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: 200 while the process runs")
async def health() -> HealthResponse:
    return HealthResponse.model_validate(liveness())


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "A component is unreachable"}},
    summary="Readiness: 200 when every component is reachable, else 503",
)
async def ready(request: Request) -> JSONResponse:
    venta: VentaApp = request.app.state.venta
    ok, body = await readiness(venta.readiness, READINESS_TIMEOUT_SECONDS)
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics of this process",
)
async def metrics(request: Request) -> Response:
    http_metrics: HttpMetrics = request.app.state.metrics
    content, media_type = render(http_metrics.registry)
    return Response(content, media_type=media_type)
