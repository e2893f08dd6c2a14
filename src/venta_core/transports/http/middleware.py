"""Pure ASGI middleware of the HTTP gateway (outermost first, see ``app_factory``):
errors -> request context -> metrics and access log -> CORS -> rate limit -> body limit ->
HEAD as GET.

Pure ASGI classes (not ``BaseHTTPMiddleware``) keep one task and one contextvars context per
request, so the request context set here is the one route handlers and loggers see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venta_core.context import RequestContext, new_request_id, request_context, sanitize_request_id
from venta_core.errors import PayloadTooLarge
from venta_core.observability.metrics import UNMATCHED_ROUTE, HttpMetrics
from venta_core.transports.http.errors import error_response, internal_error_response

__all__ = [
    "BodyLimitMiddleware",
    "ErrorMiddleware",
    "HeadMiddleware",
    "MetricsMiddleware",
    "RequestContextMiddleware",
    "route_template",
    "set_header",
]

logger = logging.getLogger("venta.http")
access_logger = logging.getLogger("venta.http.access")

REQUEST_ID_HEADER = "X-Request-ID"
#: Paths polled by orchestrators and scrapers: their access lines are logged at DEBUG.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def set_header(message: Message, name: str, value: str) -> None:
    """Set (replace) a header on an ``http.response.start`` message."""
    message["headers"] = list(message.get("headers", []))
    MutableHeaders(raw=message["headers"])[name] = value


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


class ErrorMiddleware:
    """Outermost: any exception that escaped the route layer becomes a logged 500 envelope;
    the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = _state(scope).get("request_id") or new_request_id()
            logger.exception(
                "Unhandled error in %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": request_id},
            )
            if not started:
                response = internal_error_response(request_id)
                response.headers[REQUEST_ID_HEADER] = request_id
                await response(scope, receive, send)


class RequestContextMiddleware:
    """Keeps a sane caller ``X-Request-ID`` (or makes one), puts it in the request context
    and echoes it on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sanitize_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        _state(scope)["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                set_header(message, REQUEST_ID_HEADER, request_id)
            await send(message)

        with request_context(RequestContext(request_id=request_id)):
            await self.app(scope, receive, send_with_id)


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The matched route's path template (``/v1/vendors/{vendor_id}``), else one fixed label.

    Requests answered before routing (rate limit, body limit) have no ``scope["route"]``; they
    are matched against ``routes`` (the flat table ``app_factory`` builds) so they are still
    labelled by template.
    """
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        template = getattr(_match(scope, routes), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _match(scope: Scope, routes: Sequence[BaseRoute]) -> BaseRoute | None:
    """The route the router would pick: the first full match, else the first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


class MetricsMiddleware:
    """Counts and times every request by method, route template and status, and writes one
    access log line (never headers, query strings or bodies)."""

    def __init__(
        self, app: ASGIApp, metrics: HttpMetrics, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = self.metrics.method_label(scope["method"])
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_progress.labels(method).inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.in_progress.labels(method).dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope, self.routes)
            self.metrics.observe(method, route, status, elapsed)
            self._log(scope, method, route, status, elapsed)

    @staticmethod
    def _log(scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
        level = logging.DEBUG if scope.get("path") in QUIET_PATHS else logging.INFO
        duration_ms = round(elapsed * 1000, 2)
        access_logger.log(
            level,
            "%s %s %s %.2fms",
            method,
            route,
            status,
            duration_ms,
            extra={"method": method, "route": route, "status": status, "duration_ms": duration_ms},
        )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI re-raises
    ``HTTPException``s met while reading the body, so the 413 handler answers it."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=PayloadTooLarge.default_message)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413 PAYLOAD_TOO_LARGE: at once when
    ``Content-Length`` says so, else as soon as the streamed body passes the limit.

    ``per_path`` gives routes that take larger bodies (image uploads) their own limit."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        err = PayloadTooLarge(details={"maxBytes": limit})
        await error_response(err)(scope, receive, send)


class HeadMiddleware:
    """``HEAD`` wherever ``GET`` is routed (RFC 9110, section 9.3.2): the request is routed
    and answered as ``GET``, with the same status and headers (``Content-Length`` included),
    and the body is dropped. Innermost, so metrics, logs and rate limits still see ``HEAD``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server keeps its own scope saying HEAD, and writes no body for it.
        await self.app({**scope, "method": "GET"}, receive, send_without_body)
