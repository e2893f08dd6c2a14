"""``GET /asyncapi.json``: the Socket.IO protocol as AsyncAPI 3.0 (see
``venta_core.transports.realtime.asyncapi``), the plugins' events included."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from venta_core.transports import VentaApp
from venta_core.transports.realtime.asyncapi import asyncapi_document

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/asyncapi.json")
async def asyncapi(request: Request) -> dict[str, Any]:
    cached: dict[str, Any] | None = getattr(request.app.state, "asyncapi", None)
    if cached is None:
        venta: VentaApp = request.app.state.venta
        cached = asyncapi_document(
            version=request.app.version,
            server_url=venta.settings.http.base_url,
            plugin_events=[
                (handler.namespace, handler.event, handler.payload)
                for group in venta.hook.venta_realtime_handlers(app=venta)
                for handler in group or ()
            ],
        )
        request.app.state.asyncapi = cached
    return cached
