"""Pure ASGI middleware of the HTTP gateway (outermost first, see ``app_factory``):
``GatewayMiddleware`` (error envelope, request id and context, metrics, access log) -> CORS ->
rate limit -> ``RequestLimitMiddleware`` (body limits, HEAD as GET) -> ``ReadFastPath`` and
``PositionFastPath`` (well-formed nearby queries, vendor reads and position updates answered
without FastAPI, see ``read_fast_path`` and ``position_fast_path``).

Our own work is done in two layers, not one per concern: each layer costs a call, a ``send``
wrapper and an await per message on every request. They stay two because CORS and the rate
limit sit between them: a 413 passes the CORS layer (browsers read it) and counts against the
client's allowance, as any other answer does.

Pure ASGI classes (not ``BaseHTTPMiddleware``) keep one task and one contextvars context per
request, so the request context set here is the one route handlers and loggers see. Headers
are read straight from the raw ``(name, value)`` pairs of the scope and the response, never
through Starlette's header objects, which copy them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venta_core.context import RequestContext, request_context, sanitize_request_id
from venta_core.errors import PayloadTooLarge
from venta_core.observability.logging import SAFE_RECORD
from venta_core.observability.metrics import UNMATCHED_ROUTE, HttpMetrics
from venta_core.transports.http.errors import error_response, internal_error_response

__all__ = [
    "BodyTooLarge",
    "GatewayMiddleware",
    "RequestLimitMiddleware",
    "find_route",
    "header_value",
    "replay_body",
    "route_template",
    "set_headers",
]

logger = logging.getLogger("venta.http")
access_logger = logging.getLogger("venta.http.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RAW = b"x-request-id"
#: Paths polled by orchestrators and scrapers: their access lines are logged at DEBUG.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first request header ``name`` (lower-case bytes), decoded; ``None`` when absent."""
    for key, value in scope["headers"]:
        if key == name or key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _replaced(headers: Iterable[tuple[bytes, bytes]], name: bytes, value: bytes) -> list[Any]:
    """``headers`` without any ``name`` header, then ``name: value``."""
    kept = [pair for pair in headers if pair[0].lower() != name]
    kept.append((name, value))
    return kept


def set_headers(message: Message, headers: dict[str, str]) -> None:
    """Set (replace) ``headers`` on an ``http.response.start`` message, in one pass over its
    headers; the names are written in lower case."""
    raw = {k.lower().encode("latin-1"): v.encode("latin-1") for k, v in headers.items()}
    kept = [pair for pair in message.get("headers", ()) if pair[0].lower() not in raw]
    kept += raw.items()
    message["headers"] = kept


class GatewayMiddleware:
    """Outermost, once per request:

    - keeps a sane caller ``X-Request-ID`` (or makes one), puts it in the request context
      (``scope["state"]["request_id"]`` too) and echoes it on every response;
    - counts and times every request by method, route template and status, and writes one
      access log line (never headers, query strings or bodies), built only when the access
      logger's level lets it through;
    - turns any exception that escaped the route layer into a logged 500 envelope; the
      traceback goes to the log only.
    """

    def __init__(
        self, app: ASGIApp, metrics: HttpMetrics, routes: Sequence[BaseRoute] = ()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = tuple(routes)
        # Labelled children are looked up under a lock by prometheus_client: keep them.
        self._in_progress: dict[str, Gauge] = {}
        self._observers: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sanitize_request_id(header_value(scope, _REQUEST_ID_RAW))
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode("latin-1")
        method = self.metrics.method_label(scope["method"])
        status = 500
        started = False

        async def send_wrapped(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = _replaced(message.get("headers", ()), _REQUEST_ID_RAW, raw_id)
            await send(message)

        in_progress = self._in_progress.get(method)
        if in_progress is None:
            in_progress = self._in_progress[method] = self.metrics.in_progress.labels(method)
        in_progress.inc()
        began = time.perf_counter()
        with request_context(RequestContext(request_id=request_id)):
            try:
                await self.app(scope, receive, send_wrapped)
            except Exception:
                logger.exception(
                    "Unhandled error in %s %s",
                    scope.get("method"),
                    scope.get("path"),
                    extra={"request_id": request_id},
                )
                if not started:
                    await internal_error_response(request_id)(scope, receive, send_wrapped)
            finally:
                # In the request context: the access line carries the request and user ids.
                in_progress.dec()
                elapsed = time.perf_counter() - began
                route = route_template(scope, self.routes)
                self._observe(method, route, status, elapsed)
                self._log(scope, method, route, status, elapsed)

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._observers.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (
                self.metrics.requests.labels(*labels),
                self.metrics.duration.labels(*labels),
            )
            if len(self._observers) < _MAX_CACHED_SERIES:
                self._observers[key] = children
        children[0].inc()
        children[1].observe(seconds)

    @staticmethod
    def _log(scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
        level = logging.DEBUG if scope.get("path") in QUIET_PATHS else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        duration_ms = round(elapsed * 1000, 2)
        access_logger.log(
            level,
            "%s %s %s %.2fms",
            method,
            route,
            status,
            duration_ms,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                SAFE_RECORD: True,  # bounded values only: nothing to redact
            },
        )


#: Label sets whose metric children ``GatewayMiddleware`` keeps (routes x methods x statuses
#: stay far below; the bound only guards against a surprise).
_MAX_CACHED_SERIES = 4096


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


def find_route(routes: Sequence[BaseRoute], method: str, template: str) -> BaseRoute | None:
    """The route of ``method`` and path ``template`` in ``routes`` (for the fast paths, which
    label their requests with the FastAPI route they stand in for)."""
    for route in routes:
        methods = getattr(route, "methods", None) or ()
        if getattr(route, "path_format", None) == template and method in methods:
            return route
    return None


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


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI re-raises
    ``HTTPException``s met while reading the body, so the 413 handler answers it."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=PayloadTooLarge.default_message)


class RequestLimitMiddleware:
    """Innermost, so metrics, logs and rate limits still see the request as sent:

    - refuses bodies over ``max_bytes`` with 413 PAYLOAD_TOO_LARGE: at once when
      ``Content-Length`` says so, else as soon as the streamed body passes the limit;
      ``per_path`` gives routes that take larger bodies (image uploads) their own limit;
    - answers ``HEAD`` wherever ``GET`` is routed (RFC 9110, section 9.3.2): the request is
      routed and answered as ``GET``, with the same status and headers (``Content-Length``
      included), and the body is dropped.
    """

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
        declared = header_value(scope, b"content-length") or ""
        if declared.isdigit() and int(declared) > limit:
            err = PayloadTooLarge(details={"maxBytes": limit})
            await error_response(err)(scope, receive, send)
            return
        receive = _limited(receive, limit)
        if scope["method"] == "HEAD":
            # A copy: the server keeps its own scope saying HEAD, and writes no body for it.
            scope, send = {**scope, "method": "GET"}, _without_body(send)
        await self.app(scope, receive, send)


def replay_body(body: bytes, receive: Receive, *, whole: bool = True) -> Receive:
    """A ``receive`` that returns ``body``, already read, then defers to ``receive``;
    ``whole``: false when the client went away before the end of its body."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": not whole}

    return replay


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return limited_receive


def _without_body(send: Send) -> Send:
    async def send_without_body(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_without_body
