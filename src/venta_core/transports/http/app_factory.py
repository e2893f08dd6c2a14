"""``create_http_app``: the FastAPI application of the HTTP gateway role.

The FastAPI app only serves requests; it never starts or stops the ``Venta`` application (the
runner does), and keeps it in ``app.state.venta``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from venta_core.observability.metrics import HttpMetrics, new_registry
from venta_core.ports.identity import VerifiedTokens
from venta_core.settings import Settings
from venta_core.transports import VentaApp
from venta_core.transports.http.auth import IdentityCache, authenticate, bearer_scheme
from venta_core.transports.http.deps import current_actor
from venta_core.transports.http.errors import install_error_handlers
from venta_core.transports.http.middleware import (
    REQUEST_ID_HEADER,
    GatewayMiddleware,
    RequestLimitMiddleware,
    find_route,
)
from venta_core.transports.http.position_fast_path import ROUTE as POSITION_ROUTE
from venta_core.transports.http.position_fast_path import PositionFastPath
from venta_core.transports.http.ratelimit import RateLimiter, RateLimitMiddleware
from venta_core.transports.http.read_fast_path import (
    NEARBY_ROUTE,
    VENDOR_ROUTE,
    ReadFastPath,
)
from venta_core.transports.http.routers import (
    asyncapi,
    docs,
    health,
    locations,
    map_page,
    me,
    seed,
    vendors,
)

__all__ = ["create_http_app", "plugin_routers"]

DESCRIPTION = (
    "Real-time vendor discovery: vendors broadcast live positions, people find vendors in "
    "their map viewport. Every error answers "
    '`{"error": {"code", "message", "details", "requestId"}}`.'
)
_EXPOSED_HEADERS = [
    REQUEST_ID_HEADER,
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]


def create_http_app(app: VentaApp, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the gateway for ``app``. ``registry`` lets several roles of one process share a
    Prometheus registry; by default the HTTP app gets its own."""
    api = FastAPI(
        title="venta",
        version=_version(),
        description=DESCRIPTION,
        docs_url=None,  # /docs and /redoc are served offline by routers.docs
        redoc_url=None,
        openapi_url="/openapi.json",
        redirect_slashes=False,
    )
    metrics = HttpMetrics(registry if registry is not None else new_registry())
    limiter = RateLimiter(app.kv, app.settings.rate_limit)
    api.state.venta = app
    api.state.metrics = metrics
    api.state.rate_limiter = limiter
    api.state.identity_cache = IdentityCache(app.settings.auth.identity_cache_seconds)
    api.state.verified_tokens = VerifiedTokens(
        app.settings.auth.token_cache_size, app.settings.auth.token_cache_seconds
    )
    install_error_handlers(api)
    routes = _include_routers(api, app)
    api.state.route_table = routes
    _install_middleware(api, app.settings, metrics, limiter, routes, _upload_limits(app))
    _install_openapi(api, routes)
    return api


#: Multipart overhead allowed on top of the upload size limit.
_MULTIPART_SLACK = 64 * 1024


def _upload_limits(app: VentaApp) -> dict[str, int]:
    """Image uploads take bodies up to ``uploads.max_bytes``, above the JSON body limit."""
    limit = app.settings.uploads.max_bytes + _MULTIPART_SLACK
    return {"/v1/uploads/images": limit, "/upload/image": limit}


def plugin_routers(app: VentaApp) -> list[APIRouter]:
    """Routers from every plugin's ``venta_http_routers`` (lists flattened, ``None`` skipped)."""
    results: list[list[APIRouter] | None] = app.hook.venta_http_routers(app=app)
    return [router for group in results if group for router in group if router is not None]


def _include_routers(api: FastAPI, app: VentaApp) -> list[BaseRoute]:
    """Mount the built-in and plugin routers; return every route as one flat table (in
    matching order) for labelling requests answered before routing.

    Routes are matched in the order they are included, one after the other: the hot routes
    (positions, vendors) go first, which spares each of their requests a dozen failed
    matches (health, docs, ``/v1/me``), 30-40 us of CPU. The OpenAPI document keeps its
    own order (``documented``). Locations before vendors: ``/v1/vendors/nearby`` must match
    before ``/v1/vendors/{id}``."""
    hot = [locations.create_router(app.settings.location), vendors.router]
    documented = [health.router, docs.router, me.router, *hot, seed.router, asyncapi.router]
    documented += [map_page.create_router(app.settings), *plugin_routers(app)]
    matching = [*hot, *(router for router in documented if router not in hot)]
    own = list(api.router.routes)  # FastAPI's own (the OpenAPI document)
    added: dict[int, list[BaseRoute]] = {}
    for router in matching:
        before = len(api.router.routes)
        api.include_router(router)
        added[id(router)] = api.router.routes[before:]
    api.state.documented_routes = own + [r for router in documented for r in added[id(router)]]
    table: list[BaseRoute] = [r for r in api.router.routes if hasattr(r, "path_format")]
    table += [r for router in matching for r in router.routes if hasattr(r, "path_format")]
    return table


def _install_middleware(
    api: FastAPI,
    settings: Settings,
    metrics: HttpMetrics,
    limiter: RateLimiter,
    routes: list[BaseRoute],
    body_limits: dict[str, int],
) -> None:
    """Added innermost first (``add_middleware`` wraps what is already there)."""
    http = settings.http
    api.add_middleware(PositionFastPath, route=find_route(routes, "PUT", POSITION_ROUTE))
    api.add_middleware(
        ReadFastPath,
        nearby=find_route(routes, "GET", NEARBY_ROUTE),
        vendor=find_route(routes, "GET", VENDOR_ROUTE),
        location=settings.location,
    )
    api.add_middleware(RequestLimitMiddleware, max_bytes=http.max_body_bytes, per_path=body_limits)
    api.add_middleware(
        RateLimitMiddleware, limiter=limiter, trust_forwarded_for=http.trust_forwarded_for
    )
    if http.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=http.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=_EXPOSED_HEADERS,
            max_age=600,
        )
    api.add_middleware(GatewayMiddleware, metrics=metrics, routes=routes)


def _install_openapi(api: FastAPI, routes: list[BaseRoute]) -> None:
    """FastAPI documents a 422 on every route with parameters; venta answers 400 instead,
    so those entries are replaced by the error envelope documented on each route. Routes that
    depend on ``authenticate`` declare the bearer scheme (``authenticate`` reads the header
    itself, so FastAPI does not see the scheme)."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.state.documented_routes,
            )
            _drop_422(schema)
            _parameters_in_place(schema)
            _declare_bearer(schema, routes)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _declare_bearer(schema: dict[str, Any], routes: list[BaseRoute]) -> None:
    name = type(bearer_scheme).__name__
    declared = False
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if not _depends_on(route.dependant, (authenticate, current_actor)):
            continue
        path_item = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if isinstance(operation, dict):
                operation.setdefault("security", [{name: []}])
                declared = True
    if declared:
        model = bearer_scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[name] = model


def _depends_on(dependant: Dependant, calls: tuple[Any, ...]) -> bool:
    return any(d.call in calls or _depends_on(d, calls) for d in dependant.dependencies)


#: The keys FastAPI writes after an operation's parameters, in its order.
_AFTER_PARAMETERS = ("requestBody", "callbacks", "responses")


def _parameters_in_place(schema: dict[str, Any]) -> None:
    """FastAPI writes the parameters it generates before an operation's request body and
    responses, but parameters given only by ``openapi_extra`` (the nearby query reads its
    own) after them: they are moved where FastAPI puts generated ones, so the document reads
    the same whichever way a route declares its parameters."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "parameters" not in operation:
                continue
            keys = list(operation)
            later = [keys.index(k) for k in _AFTER_PARAMETERS if k in operation]
            if not later or keys.index("parameters") < min(later):
                continue
            parameters = operation.pop("parameters")
            moved = [k for k in keys[min(later) :] if k != "parameters"]
            rest = {k: operation.pop(k) for k in moved}
            operation["parameters"] = parameters
            operation.update(rest)


def _drop_422(schema: dict[str, Any]) -> None:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _version() -> str:
    try:
        return metadata.version("venta")
    except metadata.PackageNotFoundError:
        return "0.0.0"
