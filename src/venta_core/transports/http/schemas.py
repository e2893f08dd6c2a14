"""Wire shapes of the HTTP API: camelCase JSON, RFC 3339 UTC times.

Request bodies for vendors are the domain's ``VendorCreate`` / ``VendorUpdate``; the models here
are the responses and the few bodies the domain has no model for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic_core import to_json

from venta_core.domain import User, Vendor, VendorCluster, VendorPosition, VendorSummary

__all__ = [
    "AUTHENTICATED_ERRORS",
    "ClusterOut",
    "ClustersResponse",
    "ErrorBody",
    "ErrorResponse",
    "HealthResponse",
    "LocationBody",
    "LocationOut",
    "MeResponse",
    "NearbyResponse",
    "NearbyVendor",
    "ReadyResponse",
    "SeedUpdated",
    "SeedVendorList",
    "SeedVendorResponse",
    "SubscriptionOut",
    "VendorCreated",
    "VendorLocationOut",
    "VendorOut",
    "VendorSummaryOut",
    "error_responses",
    "nearby_json",
]


def _rfc3339(value: datetime) -> str:
    """UTC with a ``Z`` suffix and milliseconds; naive values are taken as UTC (SQLite)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: ``_rfc3339`` of the times the nearby answer repeats (a pin's last-seen time changes only
#: when the vendor moves, and is read by every map showing it): formatting one costs more
#: than the rest of its vendor's entry. Keyed by the instant (equal datetimes in other zones
#: format the same), bounded.
_rfc3339_seen = lru_cache(maxsize=16_384)(_rfc3339)

UtcDateTime = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str, when_used="json")]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
Long = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]


class PublicModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


# --- errors ----------------------------------------------------------------------------------


class ErrorBody(PublicModel):
    code: str = Field(examples=["VENDOR_NOT_FOUND"])
    message: str = Field(examples=['Vendor with ID "..." not found'])
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(None, examples=["3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44"])


class ErrorResponse(PublicModel):
    error: ErrorBody


# --- locations -------------------------------------------------------------------------------


class LocationBody(PublicModel):
    """A position sent by a client: finite numbers in range; strings and booleans refused."""

    model_config = ConfigDict(extra="forbid")

    lat: Lat
    long: Long


class LocationOut(PublicModel):
    lat: float
    long: float


class VendorLocationOut(PublicModel):
    id: str
    location: LocationOut
    updated_at: UtcDateTime | None = None

    @classmethod
    def of(cls, position: VendorPosition) -> VendorLocationOut:
        location = LocationOut(lat=position.location.lat, long=position.location.long)
        return cls(id=position.id, location=location, updated_at=position.updated_at)


class NearbyVendor(PublicModel):
    """A vendor's pin on the live map: its position and what the map shows of it."""

    id: str
    location: LocationOut
    distance: float | None = Field(None, description="Metres from the circle's centre.")
    name: str | None = None
    open: bool | None = None
    primary_image: str | None = Field(None, description="URL of the vendor's image; null: none.")
    updated_at: UtcDateTime | None = Field(
        None, description="When the vendor was last seen at this position."
    )

    @model_serializer(mode="wrap")
    def _present_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``distance`` only for a circle; a known pin with all its fields (``primaryImage``
        null when the vendor has none), an unknown one (the database was unreachable) without
        them."""
        data = handler(self)
        if isinstance(data, dict):
            absent = ["distance"] if self.distance is None else []
            if self.name is None:
                absent += ["name", "open", "primary_image", "primaryImage"]
            if self.updated_at is None:
                absent += ["updated_at", "updatedAt"]
            for key in absent:
                data.pop(key, None)
        return data

    @classmethod
    def of(cls, position: VendorPosition) -> NearbyVendor:
        location = LocationOut(lat=position.location.lat, long=position.location.long)
        distance = None if position.distance is None else round(position.distance, 1)
        return cls(
            id=position.id,
            location=location,
            distance=distance,
            name=position.name,
            open=position.open,
            primary_image=position.primary_image,
            updated_at=position.updated_at,
        )


def nearby_json(positions: Sequence[VendorPosition]) -> bytes:
    """``NearbyResponse(vendors=[NearbyVendor.of(p) for p in positions])`` as JSON, byte for
    byte, without building and serializing two models per vendor (the nearby query answers
    up to ``location.max_limit`` vendors, and those models were most of its work). The same
    keys in the same order, the same optional fields left out (see
    ``NearbyVendor._present_fields``), the same float and time formatting; pydantic's
    ``to_json`` writes it. ``tests/http/test_nearby_json.py`` holds the two to each other."""
    vendors: list[dict[str, Any]] = []
    for p in positions:
        item: dict[str, Any] = {
            "id": p.id,
            "location": {"lat": p.location.lat, "long": p.location.long},
        }
        if p.distance is not None:
            item["distance"] = round(p.distance, 1)
        if p.name is not None:
            item["name"] = p.name
            item["open"] = p.open
            item["primaryImage"] = p.primary_image
        if p.updated_at is not None:
            item["updatedAt"] = _rfc3339_seen(p.updated_at)
        vendors.append(item)
    return to_json({"vendors": vendors})


class ClusterOut(PublicModel):
    """The live vendors of one geohash cell of the box: how many, and their centroid."""

    cell: str = Field(examples=["u33db"])
    count: int = Field(ge=1)
    location: LocationOut

    @classmethod
    def of(cls, cluster: VendorCluster) -> ClusterOut:
        location = LocationOut(lat=cluster.location.lat, long=cluster.location.long)
        return cls(cell=cluster.cell, count=cluster.count, location=location)


class ClustersResponse(PublicModel):
    precision: int = Field(description="Geohash characters of the cells.")
    clusters: list[ClusterOut]


class NearbyResponse(PublicModel):
    vendors: list[NearbyVendor]


# --- users -----------------------------------------------------------------------------------


class SubscriptionOut(PublicModel):
    status: str = Field(examples=["active"])
    product_id: str | None = None
    expires_at: UtcDateTime | None = None


class MeResponse(PublicModel):
    id: str
    external_id: str
    subscription: SubscriptionOut
    location: LocationOut | None = None

    @classmethod
    def of(cls, user: User) -> MeResponse:
        sub = user.subscription
        location = None
        if user.location is not None:
            location = LocationOut(lat=user.location.lat, long=user.location.long)
        return cls(
            id=user.id,
            external_id=user.external_id,
            subscription=SubscriptionOut(
                status=str(sub.status), product_id=sub.product_id, expires_at=sub.expires_at
            ),
            location=location,
        )


# --- vendors ---------------------------------------------------------------------------------


class VendorSummaryOut(PublicModel):
    id: str
    name: str

    @classmethod
    def of(cls, summary: VendorSummary) -> VendorSummaryOut:
        return cls(id=summary.id, name=summary.name)


class VendorCreated(PublicModel):
    id: str


class VendorOut(PublicModel):
    id: str
    owner_id: str
    name: str
    description: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    open: bool = False
    primary_image: str | None = None
    lat: float | None = None
    long: float | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def of(cls, vendor: Vendor) -> VendorOut:
        return cls.model_validate(vendor, from_attributes=True)


# --- seed aliases: the exact envelopes the seed system's mobile clients read -----------------


class SeedVendorList(PublicModel):
    vendors: list[VendorSummaryOut]


class SeedVendorResponse(PublicModel):
    vendor: VendorOut


class SeedUpdated(PublicModel):
    message: str = "Vendor updated successfully"
    success: bool = True


# --- operations ------------------------------------------------------------------------------


class HealthResponse(PublicModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(PublicModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(examples=[{"database": "ok", "kv": "ok", "bus": "ok"}])


# --- OpenAPI ---------------------------------------------------------------------------------

_ERROR_DESCRIPTIONS = {
    400: "VALIDATION_ERROR: malformed JSON, wrong types, values out of range",
    401: "UNAUTHENTICATED: missing, malformed, forged or expired bearer token",
    403: "FORBIDDEN: the caller does not own the vendor",
    404: "VENDOR_NOT_FOUND / LOCATION_NOT_FOUND / NOT_FOUND",
    409: "CONFLICT: the request conflicts with the current state",
    413: "PAYLOAD_TOO_LARGE: body over http.max_body_bytes",
    429: "RATE_LIMITED: see Retry-After and X-RateLimit-* headers",
    500: "INTERNAL: unexpected error (details only in the server log)",
    503: "SERVICE_UNAVAILABLE: a backend the request needs is down",
}


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, all with the error envelope.

    Pass it as a route's (or router's) ``responses=``. Each status gets the standard
    description of the codes venta answers with it; ``descriptions`` replaces that text for a
    status (and adds the status when not in ``statuses``), for routes whose errors are their own:
    ``error_responses(400, 429, descriptions={401: "INVALID_SIGNATURE: forged"})``.
    """
    texts = dict(descriptions or {})
    for status in statuses:
        if status not in _ERROR_DESCRIPTIONS and status not in texts:
            known = ", ".join(map(str, _ERROR_DESCRIPTIONS))
            raise ValueError(f"no standard description for {status} (known: {known})")
        texts.setdefault(status, _ERROR_DESCRIPTIONS.get(status, ""))
    return {
        status: {"model": ErrorResponse, "description": text}
        for status, text in sorted(texts.items())
    }


#: Errors any authenticated route may answer.
AUTHENTICATED_ERRORS = error_responses(400, 401, 429, 500)
