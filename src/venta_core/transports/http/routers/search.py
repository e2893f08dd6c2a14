"""``GET /v1/search/vendors``: full-text vendor search with an optional geo filter.

The router is built per application by the built-in search plugin (``venta_http_routers``),
with a function returning the search index that ``venta_search_index`` chose, so a plugin's
index (Algolia, ...) answers through the same route.
"""

# No ``from __future__ import annotations``: the query parameters are declared inside
# ``search_query_dependency`` with limits from settings, and FastAPI must see those local
# annotations evaluated.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import StringConstraints

from venta_core.domain import Location
from venta_core.domain.text import Storable
from venta_core.errors import ServiceUnavailable, ValidationFailed
from venta_core.ports.search import SearchHit, SearchIndex, SearchQuery
from venta_core.settings import SearchSettings
from venta_core.transports.http.deps import Authenticated
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    PublicModel,
    VendorOut,
    error_responses,
)

__all__ = [
    "MAX_LIMIT",
    "MAX_PAGE",
    "SearchHitOut",
    "SearchResponse",
    "create_router",
    "near_openapi",
    "search_query_dependency",
]

MAX_LIMIT = 100
#: Deep pages cost the database more than they help anyone; refine the query instead.
MAX_PAGE = 1000


class SearchHitOut(VendorOut):
    distance: float | None = None  # metres from (lat, long), when given

    @classmethod
    def of_hit(cls, hit: SearchHit) -> "SearchHitOut":
        out = cls.model_validate(hit.vendor, from_attributes=True)
        if hit.distance_m is not None:
            out = out.model_copy(update={"distance": round(hit.distance_m, 1)})
        return out


class SearchResponse(PublicModel):
    hits: list[SearchHitOut]
    page: int
    limit: int
    total: int


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Validation failed for {field}: {message}",
        details={"errors": [{"field": field, "message": message}]},
    )


def search_query_dependency(settings: SearchSettings) -> Callable[..., Awaitable[SearchQuery]]:
    """The query parameters of a search, with the limits of ``settings`` (so the OpenAPI
    document states them too)."""
    Words = Annotated[
        str,
        StringConstraints(max_length=settings.max_query_length),
        Storable(strip=True, blank=False),
        Query(description="Words to find in vendor names and descriptions."),
    ]
    # lat, long and radius are described together in the OpenAPI document (``near_openapi``).
    Lat = Annotated[
        float | None, Query(ge=-90, le=90, allow_inf_nan=False, include_in_schema=False)
    ]
    Long = Annotated[
        float | None, Query(ge=-180, le=180, allow_inf_nan=False, include_in_schema=False)
    ]
    Radius = Annotated[
        float | None,
        Query(gt=0, le=settings.max_radius_m, allow_inf_nan=False, include_in_schema=False),
    ]

    async def search_query(
        q: Words,
        lat: Lat = None,
        long: Long = None,
        radius: Radius = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    ) -> SearchQuery:
        """Checks what the parameter types cannot: the geo filter given whole (lat, long and
        radius) or not at all."""
        geo: dict[str, Any] = {"lat": lat, "long": long, "radius": radius}
        given = [k for k, v in geo.items() if v is not None]
        if given and len(given) < len(geo):
            missing = next(k for k in geo if geo[k] is None)
            raise _invalid(missing, f"required with {', '.join(given)}")
        center: Location | None = None
        if lat is not None and long is not None and radius is not None:
            center = Location(lat=lat, long=long)
        return SearchQuery(
            text=q,
            center=center,
            radius_m=radius if center is not None else None,
            page=page,
            limit=limit if limit is not None else settings.default_limit,
        )

    return search_query


def near_openapi(settings: SearchSettings) -> dict[str, Any]:
    """The optional geo filter for the OpenAPI document: lat, long and radius, all or none."""
    near = {
        "type": "object",
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "long": {"type": "number", "minimum": -180, "maximum": 180},
            "radius": {"type": "number", "exclusiveMinimum": 0, "maximum": settings.max_radius_m},
        },
        "required": ["lat", "long", "radius"],
        "additionalProperties": False,
    }
    parameter = {
        "name": "near",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "description": "Only vendors within radius metres of (lat, long): all three or none. "
        "The parameters are given by these names; there is no `near`.",
        "schema": near,
    }
    return {"parameters": [parameter]}


def create_router(
    index_of: Callable[[], SearchIndex | None], settings: SearchSettings
) -> APIRouter:
    """The search router reading from ``index_of()`` at each request."""
    search_query = search_query_dependency(settings)
    router = APIRouter(
        tags=["search"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated]
    )

    @router.get(
        "/v1/search/vendors",
        response_model_exclude_none=True,
        responses=error_responses(503),
        summary="Find vendors by words (q), optionally within radius metres of lat, long",
        openapi_extra=near_openapi(settings),
    )
    async def search_vendors(
        query: Annotated[SearchQuery, Depends(search_query)],
    ) -> SearchResponse:
        index = index_of()
        if index is None:
            raise ServiceUnavailable("Vendor search is not available in this process")
        found = await index.search(query)
        return SearchResponse(
            hits=[SearchHitOut.of_hit(hit) for hit in found.hits],
            page=found.page,
            limit=found.limit,
            total=found.total,
        )

    return router
