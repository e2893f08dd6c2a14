"""``GET /v1/vendors/nearby`` and ``GET /v1/vendors/{vendor_id}`` answered without FastAPI's
per-request machinery.

Every open map asks for the vendors in its view each time it moves, and opens vendors from
it: these two reads are most of a gateway's requests after the position updates. FastAPI
resolves each route's dependency nodes, validates its return value against the response
model again and builds its response anew on every request, a large share of a read whose own
work is a look-up in the geo index or one row by its key (see docs/performance.md). This pure
ASGI layer, beside ``PositionFastPath`` inside every other layer of the gateway (request id,
metrics, access log, CORS, rate limit and body limit all still see the request), answers a
well-formed read itself, doing what the route does in the same order: authentication (with
the caller's rate limit), then the service, and the same response body byte for byte.

The FastAPI routes stay the definition of both reads: their OpenAPI entries, and every answer
to a request that is not well formed. A request is taken here only when it is a ``GET`` of
one of the two paths (no ``root_path``) and, for the nearby query, its query string is one
complete, valid area (what the route's own query dependency accepts, checked by that same
function), or, for a vendor, its id is a UUID; anything else goes on to FastAPI, so an
invalid query or a malformed id gets FastAPI's own answer, in FastAPI's order.
``tests/http/test_read_fast_path.py`` holds the two paths to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from venta_core.errors import VentaError
from venta_core.services.ids import canonical_uuid
from venta_core.settings import LocationSettings
from venta_core.transports.http.auth import authenticate
from venta_core.transports.http.deps import VendorIdConvertor, services_of
from venta_core.transports.http.errors import venta_error_response
from venta_core.transports.http.routers.locations import nearby_answer, nearby_query_dependency
from venta_core.transports.http.schemas import VendorOut

__all__ = ["NEARBY_ROUTE", "VENDOR_ROUTE", "ReadFastPath"]

#: The routes' templates, as the FastAPI routes and the metrics name them.
NEARBY_ROUTE = "/v1/vendors/nearby"
VENDOR_ROUTE = "/v1/vendors/{vendor_id}"
#: The path of ``VENDOR_ROUTE``, its vendor id matched by the ``vendor_id`` convertor's rule.
_VENDOR_PATH = re.compile(rf"/v1/vendors/({VendorIdConvertor.regex})")

Answer = Callable[[Request], Awaitable[bytes]]


class ReadFastPath:
    """See the module docstring. ``nearby`` and ``vendor``: the FastAPI routes of
    ``GET NEARBY_ROUTE`` and ``GET VENDOR_ROUTE``, set as the request's ``scope["route"]``
    (what labels its metrics); ``None`` leaves that read to FastAPI. ``location``: the limits
    of the nearby query (the route's own)."""

    def __init__(
        self,
        app: ASGIApp,
        nearby: BaseRoute | None,
        vendor: BaseRoute | None,
        location: LocationSettings,
    ) -> None:
        self.app = app
        self.nearby = nearby
        self.vendor = vendor
        self._nearby_query = nearby_query_dependency(location)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == NEARBY_ROUTE and self.nearby is not None:
            request = Request(scope, receive)
            try:
                query = await self._nearby_query(request)
            except (RequestValidationError, VentaError):
                await self.app(scope, receive, send)  # FastAPI's own 400 (or 401 first)
                return
            scope["route"] = self.nearby
            await _answer(request, send, lambda r: nearby_answer(services_of(r), query))
            return
        match = _VENDOR_PATH.fullmatch(path) if self.vendor is not None else None
        vendor_id = canonical_uuid(match.group(1)) if match is not None else None
        if match is None or vendor_id is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.vendor
        scope["path_params"] = {"vendor_id": match.group(1)}
        request = Request(scope, receive)
        await _answer(request, send, lambda r: _vendor(r, vendor_id))


async def _answer(request: Request, send: Send, answer: Answer) -> None:
    """The route's answer: the caller authenticated first (as the routers' ``Authenticated``
    dependency does), then ``answer``; a ``VentaError`` of either in the app's error body."""
    try:
        await authenticate(request)
        content = await answer(request)
    except VentaError as exc:
        response = await venta_error_response(request, exc)
    else:
        response = Response(content, media_type="application/json")
    await response(request.scope, request.receive, send)


async def _vendor(request: Request, vendor_id: str) -> bytes:
    vendor = await services_of(request).vendors.get_vendor(vendor_id)
    return VendorOut.of(vendor).model_dump_json(by_alias=True).encode()
