"""Live positions: set and read a vendor's position, find vendors in a box or a circle.

``/v1/vendors/nearby`` is declared here and this router is mounted before the vendors router,
so the literal path is never taken for a ``{vendor_id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from venta_core.domain import BoundingBox, Location
from venta_core.errors import ValidationFailed
from venta_core.settings import LocationSettings
from venta_core.transports.http.deps import Authenticated, CurrentActor, Services, VendorId
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    LocationBody,
    NearbyResponse,
    NearbyVendor,
    VendorLocationOut,
    error_responses,
)

__all__ = ["NearbyQuery", "nearby_query", "router"]

router = APIRouter(tags=["locations"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated])


def _lat(alias: str) -> Any:
    return Query(alias=alias, ge=-90, le=90, allow_inf_nan=False)


def _long(alias: str) -> Any:
    return Query(alias=alias, ge=-180, le=180, allow_inf_nan=False)


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


def nearby_query(
    services: Services,
    sw_lat: Annotated[float | None, _lat("swLat")] = None,
    sw_long: Annotated[float | None, _long("swLong")] = None,
    ne_lat: Annotated[float | None, _lat("neLat")] = None,
    ne_long: Annotated[float | None, _long("neLong")] = None,
    lat: Annotated[float | None, _lat("lat")] = None,
    long: Annotated[float | None, _long("long")] = None,
    radius: Annotated[float | None, Query(gt=0, allow_inf_nan=False, description="Metres.")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> NearbyQuery:
    """Checks the query is exactly one complete form, in range (limits from settings)."""
    values = {"swLat": sw_lat, "swLong": sw_long, "neLat": ne_lat, "neLong": ne_long}
    form = _chosen_form({**values, "lat": lat, "long": long, "radius": radius})
    settings = services.settings.location
    size = _limit(settings, limit)
    if form == _CIRCLE:
        assert lat is not None and long is not None and radius is not None
        if radius > settings.max_radius_m:
            raise _invalid("radius", f"must be at most {settings.max_radius_m:g} metres")
        return NearbyQuery(limit=size, center=Location(lat=lat, long=long), radius_m=radius)
    return NearbyQuery(limit=size, box=_box(values))


def _limit(settings: LocationSettings, limit: int | None) -> int:
    if limit is None:
        return settings.default_limit
    if limit > settings.max_limit:
        raise _invalid("limit", f"must be at most {settings.max_limit}")
    return limit


def _box(values: dict[str, float | None]) -> BoundingBox:
    corners = {
        "sw": {"lat": values["swLat"], "long": values["swLong"]},
        "ne": {"lat": values["neLat"], "long": values["neLong"]},
    }
    try:
        return BoundingBox.model_validate(corners)
    except ValidationError:  # ranges are checked already; only the corner order is left
        raise _invalid("swLat", "must not exceed neLat") from None


@router.get(
    "/v1/vendors/nearby",
    response_model_exclude_none=True,
    summary="Vendors in a box (swLat, swLong, neLat, neLong) or a circle (lat, long, radius)",
)
async def nearby(
    query: Annotated[NearbyQuery, Depends(nearby_query)], services: Services
) -> NearbyResponse:
    if query.box is not None:
        found = await services.locations.vendors_in_box(query.box, query.limit)
    else:
        assert query.center is not None
        found = await services.locations.vendors_near(query.center, query.radius_m, query.limit)
    return NearbyResponse(vendors=[NearbyVendor.of(p) for p in found])


@router.put(
    "/v1/vendors/{vendor_id}/location",
    response_model_exclude_none=True,
    responses=error_responses(403, 404, 413),
    summary="Set a vendor's live position (owner)",
)
async def put_vendor_location(
    body: LocationBody, actor: CurrentActor, vendor_id: VendorId, services: Services
) -> VendorLocationOut:
    location = Location(lat=body.lat, long=body.long)
    position = await services.locations.update_vendor_location(actor, vendor_id, location)
    return VendorLocationOut.of(position)


@router.get(
    "/v1/vendors/{vendor_id}/location",
    response_model_exclude_none=True,
    responses=error_responses(404),
    summary="A vendor's last known live position (404 LOCATION_NOT_FOUND when unknown)",
)
async def get_vendor_location(vendor_id: VendorId, services: Services) -> VendorLocationOut:
    return VendorLocationOut.of(await services.locations.get_vendor_location(vendor_id))
