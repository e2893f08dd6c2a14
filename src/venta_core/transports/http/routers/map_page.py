"""``GET /map``: a live map page for development and demos.

The page (``transports/http/map/static/``) is a small slippy map written for venta:
OpenStreetMap tiles as ``<img>`` when the browser is online, markers placed by Web Mercator math
on a plain background when not.
It speaks Socket.IO v5 over Engine.IO v4 on a plain ``WebSocket`` to the ``/user`` namespace,
exactly as a mobile client does: the token in the CONNECT ``auth`` payload, the viewport as
``updateUserLocation`` on load and after every pan or zoom, and ``vendor_channels``,
``vendor_sync``, ``vendor_left`` and ``vendor_clusters`` drawn as they arrive. Nothing is loaded
from elsewhere but the tiles.

On by default except with ``VENTA_ENV=production`` (``VENTA_HTTP__MAP_PAGE`` decides); when off,
``/map`` is 404 like any unknown path.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from venta_core.errors import NotFound
from venta_core.settings import Environment, Settings

__all__ = ["ASSETS", "create_router", "map_page_enabled"]

#: Asset name -> its media type.
ASSETS = {
    "map.js": "text/javascript; charset=utf-8",
    "map.css": "text/css; charset=utf-8",
}
#: The page must not be framed by another site nor load scripts from anywhere but here.
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; connect-src 'self' ws: wss:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}


def map_page_enabled(settings: Settings) -> bool:
    """``VENTA_HTTP__MAP_PAGE`` when set, else on outside production."""
    if settings.http.map_page is not None:
        return settings.http.map_page
    return settings.env is not Environment.PRODUCTION


def _read(name: str) -> bytes:
    return (
        resources.files("venta_core.transports.http").joinpath("map", "static", name).read_bytes()
    )


def create_router(settings: Settings) -> APIRouter:
    """The ``/map`` routes, or no routes at all when the page is off."""
    router = APIRouter(include_in_schema=False)
    if not map_page_enabled(settings):
        return router

    @router.get("/map")
    async def map_page() -> Response:
        return Response(
            _read("index.html"), media_type="text/html; charset=utf-8", headers=_HEADERS
        )

    @router.get("/map/assets/{name}")
    async def map_asset(name: Annotated[str, Path()]) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound("No such asset", details={"name": name[:100]})
        return Response(_read(name), media_type=media_type, headers={"Cache-Control": "no-cache"})

    return router
