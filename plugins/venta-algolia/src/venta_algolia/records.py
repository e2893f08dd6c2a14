"""Vendors as Algolia records and search parameters: pure functions, no I/O.

A record is the vendor's JSON document (camelCase, typed values: booleans, numbers and
``null`` stay what they are) with ``objectID`` = the vendor id, ``updatedAtMs`` (the version,
as a number Algolia can compare) and ``_geoloc`` whenever the vendor has a position (``0`` is
a valid coordinate).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError
from venta_core.domain import Vendor
from venta_core.domain.geo import haversine_raw
from venta_core.ports.search import SearchHit, SearchQuery, query_terms

__all__ = [
    "INDEX_SETTINGS",
    "VERSION",
    "record_of",
    "search_hit",
    "search_params",
    "vendor_of",
    "version_of",
]

#: The numeric version attribute (milliseconds since the epoch of ``updatedAt``).
VERSION = "updatedAtMs"

INDEX_SETTINGS: dict[str, Any] = {
    "searchableAttributes": ["name", "unordered(description)"],
    "attributesForFaceting": ["filterOnly(open)", "filterOnly(ownerId)"],
    "attributesToHighlight": [],
    "attributesToSnippet": [],
}


def version_of(vendor: Vendor) -> int:
    return int(vendor.updated_at.timestamp() * 1000)


def record_of(vendor: Vendor) -> dict[str, Any]:
    record: dict[str, Any] = vendor.model_dump(mode="json", by_alias=True)
    record["objectID"] = vendor.id
    record[VERSION] = version_of(vendor)
    if vendor.lat is not None and vendor.long is not None:
        record["_geoloc"] = {"lat": vendor.lat, "lng": vendor.long}
    return record


def vendor_of(record: dict[str, Any]) -> Vendor | None:
    """The vendor of a record (``None`` for a record venta did not write)."""
    try:
        return Vendor.model_validate(record)
    except ValidationError:
        return None


def search_params(query: SearchQuery) -> dict[str, Any]:
    """Algolia search parameters: the query's terms (no operators passed through), its
    0-based page, and the geo filter as ``aroundLatLng`` / ``aroundRadius`` (whole metres)."""
    params: dict[str, Any] = {
        "query": " ".join(query_terms(query.text)),
        "page": query.page - 1,
        "hitsPerPage": query.limit,
        "attributesToHighlight": [],
        "attributesToSnippet": [],
    }
    if query.center is not None and query.radius_m is not None:
        params["aroundLatLng"] = f"{query.center.lat}, {query.center.long}"
        params["aroundRadius"] = max(1, math.ceil(query.radius_m))
    return params


def search_hit(record: dict[str, Any], query: SearchQuery) -> SearchHit | None:
    """A hit of the route, its distance from the query's centre when there is one."""
    vendor = vendor_of(record)
    if vendor is None:
        return None
    distance: float | None = None
    if query.center is not None and vendor.lat is not None and vendor.long is not None:
        distance = haversine_raw(query.center.lat, query.center.long, vendor.lat, vendor.long)
    return SearchHit(vendor, distance)
