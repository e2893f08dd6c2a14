"""Vendors as Algolia records and search parameters: pure functions, no I/O.

A record is the vendor's JSON document (camelCase, typed values: booleans, numbers and
``null`` stay what they are) with ``objectID`` = the vendor id, ``updatedAtMs`` (the version,
as a number Algolia can compare) and ``_geoloc`` whenever the vendor has a position (``0`` is
a valid coordinate). A ``vendor.moved`` event rewrites the position alone (``_geoloc``, ``lat``,
``long``) and stamps it with ``geolocAtMs``, the time the vendor was there.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from venta_core.domain import Vendor
from venta_core.domain.geo import haversine_raw
from venta_core.events import VendorMovedData
from venta_core.ports.search import SearchHit, SearchQuery, query_terms

__all__ = [
    "GEOLOC_AT",
    "INDEX_SETTINGS",
    "POSITION",
    "VERSION",
    "epoch_ms",
    "keep_newer_position",
    "number",
    "position_of",
    "record_of",
    "search_hit",
    "search_params",
    "vendor_of",
    "version_of",
]

#: The numeric version attribute (milliseconds since the epoch of ``updatedAt``).
VERSION = "updatedAtMs"
#: When the vendor was at the record's position (milliseconds since the epoch of the ``at`` of
#: the ``vendor.moved`` that wrote it); absent until a ``vendor.moved`` is applied.
GEOLOC_AT = "geolocAtMs"
#: The attributes holding a record's position.
POSITION = ("_geoloc", "lat", "long")

INDEX_SETTINGS: dict[str, Any] = {
    "searchableAttributes": ["name", "unordered(description)"],
    "attributesForFaceting": ["filterOnly(open)", "filterOnly(ownerId)"],
    "attributesToHighlight": [],
    "attributesToSnippet": [],
}


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def version_of(vendor: Vendor) -> int:
    return epoch_ms(vendor.updated_at)


def number(value: Any, default: int) -> int:
    """An attribute read back from Algolia as an integer (``default`` when absent)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def record_of(vendor: Vendor) -> dict[str, Any]:
    record: dict[str, Any] = vendor.model_dump(mode="json", by_alias=True)
    record["objectID"] = vendor.id
    record[VERSION] = version_of(vendor)
    if vendor.lat is not None and vendor.long is not None:
        record["_geoloc"] = {"lat": vendor.lat, "lng": vendor.long}
    return record


def position_of(moved: VendorMovedData) -> dict[str, Any]:
    """The partial record a ``vendor.moved`` writes: the position attributes and their time."""
    return {
        "objectID": moved.id,
        "lat": moved.lat,
        "long": moved.long,
        "_geoloc": {"lat": moved.lat, "lng": moved.long},
        GEOLOC_AT: epoch_ms(moved.at),
    }


def keep_newer_position(record: dict[str, Any], indexed: dict[str, Any]) -> dict[str, Any]:
    """``record``, a whole document about to replace ``indexed``, keeping what a
    ``vendor.moved`` wrote there.

    A vendor document carries the position stored when the profile last changed, without its
    time: a position a ``vendor.moved`` wrote *after* the document's ``updatedAt`` is newer,
    so it stays. Otherwise the document's position wins. ``geolocAtMs`` stays in any case, so
    a ``vendor.moved`` older than the last one applied is still refused afterwards.
    """
    at = number(indexed.get(GEOLOC_AT), -1)
    if at < 0:
        return record
    record[GEOLOC_AT] = at
    if at > record[VERSION] and isinstance(indexed.get("_geoloc"), dict):
        for key in POSITION:
            record[key] = indexed.get(key)
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
