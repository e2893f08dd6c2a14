"""``PUT /v1/vendors/{vendor_id}/location`` answered without FastAPI's per-request machinery.

Vendors send their position every few seconds, so this route carries most of a gateway's
requests. For each one FastAPI resolves the route's dependency nodes, its parameters, its
body and its response model anew, about a third of the request's CPU (see
docs/performance.md). This pure ASGI layer, the innermost of the gateway's middleware (inside
the request id, metrics, access log, CORS, rate limit and body limit layers, which all still
see the request), answers a well-formed position update itself, doing what the FastAPI route
does in the same order: authentication (and the caller's rate limit), then the location
service, and the same response body byte for byte.

The FastAPI route stays the definition of the route: its OpenAPI entry, and every answer to a
request that is not well formed. A request is taken here only when its path is a vendor's
location (no ``root_path``), its ``Content-Type`` is ``application/json``, its
``Content-Length`` is at most ``MAX_BODY_BYTES``, its vendor id is a UUID and its body is a
valid ``LocationBody``; any other request goes on to FastAPI, its body replayed when it was
read, so malformed ids (404 before the body is looked at) and invalid bodies (400 with the
fields) get FastAPI's own answers. ``tests/http/test_position_fast_path.py`` holds the two
paths to the same answers.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from venta_core.domain import Location
from venta_core.errors import VentaError
from venta_core.services.ids import canonical_uuid
from venta_core.transports.http.deps import VendorIdConvertor, current_actor, services_of
from venta_core.transports.http.errors import venta_error_response
from venta_core.transports.http.middleware import header_value, replay_body
from venta_core.transports.http.schemas import LocationBody, VendorLocationOut

__all__ = ["MAX_BODY_BYTES", "ROUTE", "PositionFastPath"]

#: The route's template, as the FastAPI route and the metrics name it.
ROUTE = "/v1/vendors/{vendor_id}/location"
#: A position is about 40 bytes of JSON; larger bodies are left to FastAPI.
MAX_BODY_BYTES = 1024
#: The path of ``ROUTE``, its vendor id matched by the ``vendor_id`` convertor's rule.
_PATH = re.compile(rf"/v1/vendors/({VendorIdConvertor.regex})/location")


class PositionFastPath:
    """See the module docstring. ``route``: the FastAPI route of ``PUT ROUTE``, set as the
    request's ``scope["route"]`` (what labels its metrics); ``None`` turns this layer off."""

    def __init__(self, app: ASGIApp, route: BaseRoute | None) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.fullmatch(scope["path"]) if _candidate(scope) else None
        if match is None or self.route is None:
            await self.app(scope, receive, send)
            return
        body, whole = await _read_body(receive)
        vendor_id = canonical_uuid(match.group(1))
        sent = _location(body) if whole and vendor_id is not None else None
        if sent is None or vendor_id is None:
            await self.app(scope, replay_body(body, receive, whole=whole), send)
            return
        scope["route"] = self.route
        scope["path_params"] = {"vendor_id": match.group(1)}
        request = Request(scope, receive)
        try:
            actor = await current_actor(request)
            locations = services_of(request).locations
            position = await locations.update_vendor_location(actor, vendor_id, sent)
        except VentaError as exc:
            response = await venta_error_response(request, exc)
        else:
            out = VendorLocationOut.of(position)
            content = out.model_dump_json(by_alias=True, exclude_none=True)
            response = Response(content, media_type="application/json")
        await response(scope, receive, send)


def _candidate(scope: Scope) -> bool:
    """A ``PUT`` with a JSON body of a declared, small length, outside any ``root_path``."""
    if scope["type"] != "http" or scope["method"] != "PUT" or scope.get("root_path"):
        return False
    length = header_value(scope, b"content-length")
    if length is None or not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return False
    content_type = header_value(scope, b"content-type") or ""
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _location(body: bytes) -> Location | None:
    try:
        sent = LocationBody.model_validate_json(body)
    except ValidationError:
        return None
    return Location(lat=sent.lat, long=sent.long)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request's body, and whether it came whole (false: the client went away)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body, False
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, True
