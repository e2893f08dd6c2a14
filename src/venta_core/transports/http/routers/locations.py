"""Live positions: set and read a vendor's position, find vendors in a box or a circle.

``/v1/vendors/nearby`` and ``/v1/vendors/clusters`` are declared here and this router is
mounted before the vendors router, so the literal paths are never taken for a ``{vendor_id}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from venta_core.domain import BoundingBox, Location
from venta_core.domain.cells import cluster_precision
from venta_core.errors import ValidationFailed
from venta_core.settings import LocationSettings
from venta_core.transports import VentaApp
from venta_core.transports.http.deps import (
    Authenticated,
    Services,
    VendorId,
    current_actor,
    services_of,
)
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    ClusterOut,
    ClustersResponse,
    LocationBody,
    NearbyResponse,
    VendorLocationOut,
    error_responses,
    nearby_json,
)

__all__ = [
    "NearbyQuery",
    "clusters_query_dependency",
    "create_router",
    "nearby_answer",
    "nearby_openapi",
    "nearby_query_dependency",
]

_BOX = ("swLat", "swLong", "neLat", "neLong")
_CIRCLE = ("lat", "long", "radius")


@dataclass(frozen=True, slots=True)
class NearbyQuery:
    """Either ``box`` or ``center`` + ``radius_m`` is set."""

    limit: int
    box: BoundingBox | None = None
    center: Location | None = None
    radius_m: float = 0.0


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Validation failed for {field}: {message}",
        details={"errors": [{"field": field, "message": message}]},
    )


def _chosen_form(values: dict[str, float | None]) -> tuple[str, ...]:
    box = [k for k in _BOX if values[k] is not None]
    circle = [k for k in _CIRCLE if values[k] is not None]
    if box and circle:
        raise _invalid(
            "query",
            "give a box (swLat, swLong, neLat, neLong) or a circle (lat, long, radius), not both",
        )
    form = _BOX if box else _CIRCLE if circle else ()
    if not form:
        raise _invalid(
            "query",
            "a box (swLat, swLong, neLat, neLong) or a circle (lat, long, radius) is required",
        )
    missing = [k for k in form if values[k] is None]
    if missing:
        raise _invalid(missing[0], f"required with {', '.join(k for k in form if k != missing[0])}")
    return form


def _nearby_parameters(settings: LocationSettings) -> type[BaseModel]:
    """The eight query parameters of the nearby query as one model, with the constraints
    FastAPI applied to each when they were declared one by one (``Query(ge=..., le=...)``):
    the same validators, messages and order of errors, in one validation call."""

    def area(alias: str, low: float, high: float) -> Any:
        return (float | None, Field(None, alias=alias, ge=low, le=high, allow_inf_nan=False))

    return create_model(
        "NearbyParameters",
        __config__=ConfigDict(extra="ignore"),
        sw_lat=area("swLat", -90, 90),
        sw_long=area("swLong", -180, 180),
        ne_lat=area("neLat", -90, 90),
        ne_long=area("neLong", -180, 180),
        lat=area("lat", -90, 90),
        long=area("long", -180, 180),
        radius=(
            float | None,
            Field(None, gt=0, le=settings.max_radius_m, allow_inf_nan=False),
        ),
        limit=(int | None, Field(None, ge=1, le=settings.max_limit)),
    )


_NEARBY_PARAMETERS = (*_BOX, *_CIRCLE, "limit")


def nearby_query_dependency(settings: LocationSettings) -> Callable[..., Awaitable[NearbyQuery]]:
    """The query of ``GET /v1/vendors/nearby`` with the limits of ``settings``.

    The eight parameters are read from the query string and validated by one model
    (``_nearby_parameters``) rather than declared to FastAPI one by one, which resolved and
    validated each separately on every request (about a tenth of the route's CPU). Invalid
    values answer the same 400 as before: every invalid parameter, in declaration order, each
    located in ``query``. The OpenAPI document declares ``limit`` and the area parameter
    (``nearby_openapi``) as it did."""
    parameters = _nearby_parameters(settings)

    async def nearby_query(request: Request) -> NearbyQuery:
        """Checks the query is exactly one complete form, south below north."""
        sent = request.query_params
        raw = {name: value for name in _NEARBY_PARAMETERS if (value := sent.get(name)) is not None}
        try:
            query = parameters.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in errors]
            ) from None
        got: dict[str, Any] = query.__dict__
        values = {
            "swLat": got["sw_lat"],
            "swLong": got["sw_long"],
            "neLat": got["ne_lat"],
            "neLong": got["ne_long"],
        }
        lat, long, radius, limit = got["lat"], got["long"], got["radius"], got["limit"]
        form = _chosen_form({**values, "lat": lat, "long": long, "radius": radius})
        size = settings.default_limit if limit is None else limit
        if form == _CIRCLE:
            assert lat is not None and long is not None and radius is not None
            return NearbyQuery(limit=size, center=Location(lat=lat, long=long), radius_m=radius)
        return NearbyQuery(limit=size, box=_box(values))

    return nearby_query


async def nearby_answer(services: VentaApp, query: NearbyQuery) -> bytes:
    """The body of the nearby query's answer (the route's, and ``ReadFastPath``'s)."""
    if query.box is not None:
        found = await services.locations.vendors_in_box(query.box, query.limit)
    else:
        assert query.center is not None
        found = await services.locations.vendors_near(query.center, query.radius_m, query.limit)
    return nearby_json(found)


def _coordinate(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


def nearby_openapi(settings: LocationSettings) -> dict[str, Any]:
    """The parameters of the nearby query for the OpenAPI document: ``limit`` (as FastAPI
    documented it when it was declared as a ``Query``) and the area, a box or a circle."""
    lat, long = _coordinate(-90, 90), _coordinate(-180, 180)
    box = {
        "title": "box",
        "type": "object",
        "properties": {"swLat": lat, "swLong": long, "neLat": lat, "neLong": long},
        "required": list(_BOX),
        "additionalProperties": False,
        "description": "South-west and north-east corners; swLat must not exceed neLat. "
        "swLong above neLong crosses the antimeridian.",
    }
    radius = {"type": "number", "exclusiveMinimum": 0, "maximum": settings.max_radius_m}
    circle = {
        "title": "circle",
        "type": "object",
        "properties": {"lat": lat, "long": long, "radius": radius},
        "required": list(_CIRCLE),
        "additionalProperties": False,
        "description": "A centre and a radius in metres; results nearest first, with distance.",
    }
    parameter = {
        "name": "area",
        "in": "query",
        "required": True,
        "style": "form",
        "explode": True,
        "description": "Exactly one of: a box (swLat, swLong, neLat, neLong) or a circle "
        "(lat, long, radius). The parameters are given by these names; there is no `area`.",
        "schema": {"oneOf": [box, circle]},
    }
    limit_description = f"Most vendors answered (default {settings.default_limit})."
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {
            "anyOf": [
                {"type": "integer", "maximum": settings.max_limit, "minimum": 1},
                {"type": "null"},
            ],
            "description": limit_description,
            "title": "Limit",
        },
        "description": limit_description,
    }
    return {"parameters": [limit, parameter]}


def _box(values: dict[str, float | None]) -> BoundingBox:
    corners = {
        "sw": {"lat": values["swLat"], "long": values["swLong"]},
        "ne": {"lat": values["neLat"], "long": values["neLong"]},
    }
    try:
        return BoundingBox.model_validate(corners)
    except ValidationError:  # ranges are checked already; only the corner order is left
        raise _invalid("swLat", "must not exceed neLat") from None


@dataclass(frozen=True, slots=True)
class ClustersQuery:
    box: BoundingBox
    precision: int


def clusters_query_dependency(settings: LocationSettings) -> Callable[..., ClustersQuery]:
    """The query of ``GET /v1/vendors/clusters``: a box, validated as nearby's, and an
    optional precision (default: the finest at which the box covers at most
    ``location.max_clusters`` cells)."""

    def corner(alias: str, low: float, high: float, what: str) -> Any:
        return Query(alias=alias, ge=low, le=high, allow_inf_nan=False, description=what)

    def clusters_query(
        sw_lat: float = corner("swLat", -90, 90, "South-west latitude (at most neLat)."),
        sw_long: float = corner(
            "swLong", -180, 180, "South-west longitude (above neLong: crosses the antimeridian)."
        ),
        ne_lat: float = corner("neLat", -90, 90, "North-east latitude."),
        ne_long: float = corner("neLong", -180, 180, "North-east longitude."),
        precision: int | None = Query(
            None,
            ge=1,
            le=12,
            description="Geohash characters of the cells (default: the finest at which the box "
            f"covers at most {settings.max_clusters} cells).",
        ),
    ) -> ClustersQuery:
        box = _box({"swLat": sw_lat, "swLong": sw_long, "neLat": ne_lat, "neLong": ne_long})
        if precision is None:
            precision = cluster_precision(box.parts(), settings.max_clusters)
        return ClustersQuery(box=box, precision=precision)

    return clusters_query


def create_router(settings: LocationSettings) -> APIRouter:
    """The live-position routes, with the nearby limits of ``settings``."""
    router = APIRouter(
        tags=["locations"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated]
    )
    nearby_query = nearby_query_dependency(settings)
    clusters_query = clusters_query_dependency(settings)

    @router.get(
        "/v1/vendors/nearby",
        summary="Vendors in a box (swLat, swLong, neLat, neLong) or a circle (lat, long, radius)",
        openapi_extra=nearby_openapi(settings),
        response_model=NearbyResponse,  # written by nearby_json, byte for byte the same
    )
    async def nearby(request: Request, query: NearbyQuery = Depends(nearby_query)) -> Response:
        # A hot route: the services without a dependency node of their own.
        body = await nearby_answer(services_of(request), query)
        return Response(body, media_type="application/json")

    @router.get(
        "/v1/vendors/clusters",
        summary="Live vendors of a box counted by geohash cell, with their centroid",
    )
    async def clusters(
        query: ClustersQuery = Depends(clusters_query), *, services: Services
    ) -> ClustersResponse:
        found = await services.locations.vendor_clusters(query.box, query.precision)
        return ClustersResponse(
            precision=query.precision, clusters=[ClusterOut.of(c) for c in found]
        )

    @router.put(
        "/v1/vendors/{vendor_id:vendor_id}/location",
        response_model_exclude_none=True,
        responses=error_responses(403, 404, 413),
        summary="Set a vendor's live position (owner)",
    )
    async def put_vendor_location(
        body: LocationBody, vendor_id: VendorId, request: Request
    ) -> VendorLocationOut:
        # A hot route: the caller (authenticated by the router's dependency, so this is a
        # look-up) and the services without dependency nodes of their own.
        actor = await current_actor(request)
        location = Location(lat=body.lat, long=body.long)
        services = services_of(request)
        position = await services.locations.update_vendor_location(actor, vendor_id, location)
        return VendorLocationOut.of(position)

    @router.get(
        "/v1/vendors/{vendor_id:vendor_id}/location",
        response_model_exclude_none=True,
        responses=error_responses(404),
        summary="A vendor's last known live position (404 LOCATION_NOT_FOUND when unknown)",
    )
    async def get_vendor_location(vendor_id: VendorId, services: Services) -> VendorLocationOut:
        return VendorLocationOut.of(await services.locations.get_vendor_location(vendor_id))

    return router
