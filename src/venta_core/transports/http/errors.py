"""Every HTTP error answers ``{"error": {code, message, details, requestId}}``.

Handlers registered here cover what FastAPI raises inside the route layer (``VentaError``,
request validation, 404/405 and other ``HTTPException``s). Unexpected exceptions are caught by
``ErrorMiddleware`` (outermost) and rendered with ``internal_error_response``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from venta_core.context import current
from venta_core.errors import ERROR_TABLE, RateLimited, VentaError

__all__ = [
    "allowed_methods",
    "error_body",
    "error_response",
    "install_error_handlers",
    "internal_error_response",
    "validation_errors",
    "venta_error_response",
]

logger = logging.getLogger("venta.http")

GENERIC_INTERNAL_MESSAGE = "Internal server error"
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})

#: HTTP status -> the generic code for it (first entry of ERROR_TABLE with that status).
_CODE_BY_STATUS: dict[int, str] = {}
for _code, _spec in ERROR_TABLE.items():
    _CODE_BY_STATUS.setdefault(_spec.http_status, _code)


def _request_id(request_id: str | None = None) -> str | None:
    if request_id is not None:
        return request_id
    ctx = current()
    return ctx.request_id if ctx else None


def error_body(
    code: str, message: str, details: Mapping[str, Any] | None, request_id: str | None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details or {}),
            "requestId": _request_id(request_id),
        }
    }


def error_response(
    err: VentaError,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope of ``err`` with its status; a 500 never shows the original message."""
    status = err.http_status
    message = GENERIC_INTERNAL_MESSAGE if status == 500 else err.message
    details = {} if status == 500 else err.details
    extra = dict(headers or {})
    if isinstance(err, RateLimited):
        extra["Retry-After"] = str(err.retry_after)
    body = error_body(err.code, message, details, request_id)
    return JSONResponse(body, status_code=status, headers=extra)


def internal_error_response(request_id: str | None) -> JSONResponse:
    body = error_body("INTERNAL", GENERIC_INTERNAL_MESSAGE, None, request_id)
    return JSONResponse(body, status_code=500)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts -> ``[{field, message}]`` (input values never echoed)."""
    out: list[dict[str, str]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in _LOCATIONS and len(loc) > 1:
            loc = loc[1:]
        if error.get("type") == "json_invalid":
            field, message = "body", f"Malformed JSON: {error.get('ctx', {}).get('error', '')}"
        else:
            field, message = ".".join(loc) or "body", str(error.get("msg", "invalid"))
        out.append({"field": field, "message": message.rstrip(": ")})
    return out


async def venta_error_response(request: Request, exc: Exception) -> Response:
    """The answer to a ``VentaError`` raised while serving ``request`` (the app's handler)."""
    assert isinstance(exc, VentaError)
    if exc.http_status == 500:
        logger.error("%s: %s", exc.code, exc.message, exc_info=exc)
    # A 503 is not logged per request: the outage behind it is logged once where it was
    # detected (venta_core.outages), and the access log records each response.
    headers: dict[str, str] = {}
    if exc.code == "UNAUTHENTICATED":
        presented = "authorization" in request.headers
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if presented else "Bearer"
    return error_response(exc, headers=headers)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    errors = validation_errors(raw)
    first = errors[0]["field"] if errors else "request"
    malformed = any(error.get("type") == "json_invalid" for error in raw)
    message = MALFORMED_JSON if malformed else f"Validation failed for {first}"
    body = error_body("VALIDATION_ERROR", message, {"errors": errors}, None)
    return JSONResponse(body, status_code=400)


MALFORMED_JSON = "Malformed JSON body"


def _unparsable_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not decode a JSON body, when that is what this 400 is about.

    FastAPI turns a ``JSONDecodeError`` into a validation error, but any other failure of
    ``json.loads`` (nesting past the parser's depth, bytes that are not UTF-8) into a bare
    400 "There was an error parsing the body", with the cause chained."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, RecursionError | ValueError):
        return None
    if isinstance(cause, RecursionError):
        return "Malformed JSON: nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "Malformed JSON: not valid UTF-8"
    return "Malformed JSON: cannot be decoded"


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    unparsable = _unparsable_body(exc)
    if unparsable is not None:
        errors = [{"field": "body", "message": unparsable}]
        body = error_body("VALIDATION_ERROR", MALFORMED_JSON, {"errors": errors}, None)
        return JSONResponse(body, status_code=400)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, f"HTTP_{status}")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code
    if status >= 500:
        message = GENERIC_INTERNAL_MESSAGE if status == 500 else message
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    body = error_body(code, message, None, None)
    return JSONResponse(body, status_code=status, headers=headers)


#: The order methods are listed in ``Allow``.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path. Starlette's own 405 names only
    the methods of the first route whose path matched; a path served by several routes
    (GET, PUT and DELETE of a vendor) needs them all. ``HEAD`` goes with ``GET``.

    The routes are the flat table ``app_factory`` keeps (``app.state.route_table``): FastAPI
    nests included routers, so ``app.router.routes`` alone misses theirs."""
    methods: set[str] = set()
    routes = getattr(request.app.state, "route_table", request.app.router.routes)
    for route in routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    rank = {method: i for i, method in enumerate(_METHOD_ORDER)}
    return sorted(methods, key=lambda m: (rank.get(m, len(rank)), m))


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(VentaError, venta_error_response)
    api.add_exception_handler(RequestValidationError, _request_validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_exception)
