"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), working offline.

FastAPI's pages load their scripts from a CDN, so they stay blank on a network without one
(an air-gapped cluster, a laptop on a train). These pages load the scripts from
``/docs/assets/``, served from the files the ``fastapi-offline`` package ships; nothing on them
points anywhere but this server (no web fonts, no online validator badge).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from venta_core.errors import NotFound

__all__ = ["ASSETS", "ASSETS_PATH", "router"]

ASSETS_PATH = "/docs/assets"
#: Asset name -> its media type (fixed here rather than guessed from the system's MIME table).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


def _openapi_url(request: Request) -> str:
    return str(request.app.openapi_url or "/openapi.json")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: Annotated[str, Path()]) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such asset", details={"name": name[:100]})
    path = resources.files("fastapi_offline").joinpath("static", name)
    return FileResponse(str(path), media_type=media_type, headers=_CACHE)
