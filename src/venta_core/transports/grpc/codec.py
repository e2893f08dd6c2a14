"""Domain models <-> protobuf messages, exact both ways.

Rules that keep the round trip exact (and avoid the seed system's proto defects):

* nullable scalars are proto3 ``optional`` and read back with ``HasField``: ``None`` and ``""``
  (or ``0``) stay different; nullable messages are left unset;
* coordinates are doubles; a required location that is absent is a validation error, never
  a silent ``(0, 0)``;
* datetimes become ``Timestamp`` in UTC with microsecond precision and come back timezone-aware
  (UTC); a naive datetime is taken as UTC, the store's convention;
* ``VendorUpdate`` carries an ``update_mask``: a masked field with no value means "set to null",
  an unmasked field is left alone, exactly ``VendorUpdate.changes()``.

Decoding validates through the domain models, so a bad message raises ``ValidationFailed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ValidationError

from venta_core.domain import (
    BoundingBox,
    Location,
    Subscription,
    SubscriptionStatus,
    SubscriptionUpdate,
    User,
    Vendor,
    VendorCluster,
    VendorCreate,
    VendorPosition,
    VendorSummary,
    VendorUpdate,
)
from venta_core.errors import ValidationFailed
from venta_core.transports.grpc.stubs import common_pb2, location_pb2, user_pb2, vendor_pb2

__all__ = [
    "box_from_pb",
    "box_to_pb",
    "cluster_from_pb",
    "cluster_to_pb",
    "location_from_pb",
    "location_to_pb",
    "position_from_pb",
    "position_to_pb",
    "required",
    "subscription_from_pb",
    "subscription_to_pb",
    "subscription_update_from_pb",
    "subscription_update_to_pb",
    "summary_from_pb",
    "summary_to_pb",
    "timestamp_from_pb",
    "timestamp_to_pb",
    "user_from_pb",
    "user_to_pb",
    "vendor_create_from_pb",
    "vendor_create_to_pb",
    "vendor_from_pb",
    "vendor_to_pb",
    "vendor_update_from_pb",
    "vendor_update_to_pb",
]

M = TypeVar("M", bound=BaseModel)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z, the Timestamp range
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_NANOS = 1_000_000_000

#: Fields a VendorUpdate may name in its update_mask (proto and domain names agree).
UPDATE_FIELDS = frozenset(
    ("name", "description", "phone", "email", "website", "open", "primary_image")
)

_STATUS_TO_PB: dict[SubscriptionStatus, int] = {
    s: user_pb2.SubscriptionStatus.Value(f"SUBSCRIPTION_STATUS_{s.name}")
    for s in SubscriptionStatus
}
_STATUS_FROM_PB: dict[int, SubscriptionStatus] = {v: k for k, v in _STATUS_TO_PB.items()}


# -- helpers -------------------------------------------------------------------------------------


def _validated(model: type[M], data: Mapping[str, Any]) -> M:
    """Build ``model`` from wire values; a pydantic error becomes ``ValidationFailed``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or model.__name__, "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        raise ValidationFailed(
            f"{first['field']}: {first['message']}", details={"errors": errors}
        ) from None


def _opt(message: Message, field: str) -> Any:
    """The field's value when present on the wire, else None."""
    return getattr(message, field) if message.HasField(field) else None


def required(message: Message, field: str) -> Any:
    """A message-typed field that must be set (proto3 cannot say so itself)."""
    if not message.HasField(field):
        raise ValidationFailed(f"{field} is required", details={"field": field})
    return getattr(message, field)


def timestamp_to_pb(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise ValidationFailed("time out of range", details={"value": value.isoformat()})
    return Timestamp(seconds=seconds, nanos=delta.microseconds * 1000)


def timestamp_from_pb(value: Timestamp) -> datetime:
    if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < _NANOS):
        raise ValidationFailed("time out of range", details={"seconds": value.seconds})
    return _EPOCH + timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def _opt_ts_to_pb(value: datetime | None) -> Timestamp | None:
    return None if value is None else timestamp_to_pb(value)


def _opt_ts_from_pb(message: Message, field: str) -> datetime | None:
    return timestamp_from_pb(getattr(message, field)) if message.HasField(field) else None


def _status_to_pb(status: SubscriptionStatus) -> int:
    return _STATUS_TO_PB[status]


def _status_from_pb(value: int) -> SubscriptionStatus:
    try:
        return _STATUS_FROM_PB[value]
    except KeyError:
        raise ValidationFailed(
            "unknown subscription status", details={"field": "status", "value": value}
        ) from None


# -- geo -----------------------------------------------------------------------------------------


def location_to_pb(value: Location) -> common_pb2.Location:
    return common_pb2.Location(lat=value.lat, long=value.long)


def location_from_pb(value: common_pb2.Location) -> Location:
    return _validated(Location, {"lat": value.lat, "long": value.long})


def box_to_pb(value: BoundingBox) -> common_pb2.BoundingBox:
    return common_pb2.BoundingBox(sw=location_to_pb(value.sw), ne=location_to_pb(value.ne))


def box_from_pb(value: common_pb2.BoundingBox) -> BoundingBox:
    sw = location_from_pb(required(value, "sw"))
    ne = location_from_pb(required(value, "ne"))
    return _validated(BoundingBox, {"sw": sw, "ne": ne})


def position_to_pb(value: VendorPosition) -> common_pb2.VendorPosition:
    return common_pb2.VendorPosition(
        id=value.id,
        location=location_to_pb(value.location),
        distance=value.distance,
        updated_at=_opt_ts_to_pb(value.updated_at),
        name=value.name,
        open=value.open,
        primary_image=value.primary_image,
    )


def position_from_pb(value: common_pb2.VendorPosition) -> VendorPosition:
    data = {
        "id": value.id,
        "location": location_from_pb(required(value, "location")),
        "distance": _opt(value, "distance"),
        "updated_at": _opt_ts_from_pb(value, "updated_at"),
        "name": _opt(value, "name"),
        "open": _opt(value, "open"),
        "primary_image": _opt(value, "primary_image"),
    }
    return _validated(VendorPosition, data)


def cluster_to_pb(value: VendorCluster) -> location_pb2.VendorCluster:
    return location_pb2.VendorCluster(
        cell=value.cell, count=value.count, location=location_to_pb(value.location)
    )


def cluster_from_pb(value: location_pb2.VendorCluster) -> VendorCluster:
    data = {
        "cell": value.cell,
        "count": value.count,
        "location": location_from_pb(required(value, "location")),
    }
    return _validated(VendorCluster, data)


# -- users ---------------------------------------------------------------------------------------


def subscription_to_pb(value: Subscription) -> user_pb2.Subscription:
    return user_pb2.Subscription(
        status=_status_to_pb(value.status),  # type: ignore[arg-type]  # enum ints
        provider=value.provider,
        product_id=value.product_id,
        expires_at=_opt_ts_to_pb(value.expires_at),
        updated_at=_opt_ts_to_pb(value.updated_at),
    )


def subscription_from_pb(value: user_pb2.Subscription) -> Subscription:
    data = {
        "status": _status_from_pb(value.status),
        "provider": _opt(value, "provider"),
        "product_id": _opt(value, "product_id"),
        "expires_at": _opt_ts_from_pb(value, "expires_at"),
        "updated_at": _opt_ts_from_pb(value, "updated_at"),
    }
    return _validated(Subscription, data)


def subscription_update_to_pb(value: SubscriptionUpdate) -> user_pb2.SubscriptionUpdate:
    return user_pb2.SubscriptionUpdate(
        status=_status_to_pb(value.status),  # type: ignore[arg-type]  # enum ints
        provider=value.provider,
        product_id=value.product_id,
        expires_at=_opt_ts_to_pb(value.expires_at),
        event_id=value.event_id,
    )


def subscription_update_from_pb(value: user_pb2.SubscriptionUpdate) -> SubscriptionUpdate:
    data = {
        "status": _status_from_pb(value.status),
        "provider": value.provider,
        "product_id": _opt(value, "product_id"),
        "expires_at": _opt_ts_from_pb(value, "expires_at"),
        "event_id": _opt(value, "event_id"),
    }
    return _validated(SubscriptionUpdate, data)


def user_to_pb(value: User) -> user_pb2.User:
    return user_pb2.User(
        id=value.id,
        external_id=value.external_id,
        subscription=subscription_to_pb(value.subscription),
        location=None if value.location is None else location_to_pb(value.location),
        created_at=timestamp_to_pb(value.created_at),
        updated_at=timestamp_to_pb(value.updated_at),
    )


def user_from_pb(value: user_pb2.User) -> User:
    data = {
        "id": value.id,
        "external_id": value.external_id,
        "subscription": subscription_from_pb(required(value, "subscription")),
        "location": location_from_pb(value.location) if value.HasField("location") else None,
        "created_at": timestamp_from_pb(required(value, "created_at")),
        "updated_at": timestamp_from_pb(required(value, "updated_at")),
    }
    return _validated(User, data)


# -- vendors -------------------------------------------------------------------------------------


def summary_to_pb(value: VendorSummary) -> common_pb2.VendorSummary:
    return common_pb2.VendorSummary(id=value.id, name=value.name)


def summary_from_pb(value: common_pb2.VendorSummary) -> VendorSummary:
    return _validated(VendorSummary, {"id": value.id, "name": value.name})


def vendor_to_pb(value: Vendor) -> vendor_pb2.Vendor:
    return vendor_pb2.Vendor(
        id=value.id,
        owner_id=value.owner_id,
        name=value.name,
        description=value.description,
        phone=value.phone,
        email=value.email,
        website=value.website,
        open=value.open,
        primary_image=value.primary_image,
        lat=value.lat,
        long=value.long,
        created_at=timestamp_to_pb(value.created_at),
        updated_at=timestamp_to_pb(value.updated_at),
    )


def vendor_from_pb(value: vendor_pb2.Vendor) -> Vendor:
    data: dict[str, Any] = {"id": value.id, "owner_id": value.owner_id, "name": value.name}
    for field in ("description", "phone", "email", "website", "primary_image", "lat", "long"):
        data[field] = _opt(value, field)
    data["open"] = value.open
    data["created_at"] = timestamp_from_pb(required(value, "created_at"))
    data["updated_at"] = timestamp_from_pb(required(value, "updated_at"))
    return _validated(Vendor, data)


def vendor_create_to_pb(value: VendorCreate) -> vendor_pb2.VendorCreate:
    return vendor_pb2.VendorCreate(
        name=value.name,
        description=value.description,
        phone=value.phone,
        email=value.email,
        website=value.website,
        open=value.open,
        primary_image=value.primary_image,
    )


def vendor_create_from_pb(value: vendor_pb2.VendorCreate) -> VendorCreate:
    data: dict[str, Any] = {"name": value.name, "open": value.open}
    for field in ("description", "phone", "email", "website", "primary_image"):
        if value.HasField(field):
            data[field] = getattr(value, field)
    return _validated(VendorCreate, data)


def vendor_update_to_pb(value: VendorUpdate) -> vendor_pb2.VendorUpdate:
    changes = value.changes()
    message = vendor_pb2.VendorUpdate()
    for field in sorted(changes):
        message.update_mask.paths.append(field)
        if changes[field] is not None:
            setattr(message, field, changes[field])
    return message


def vendor_update_from_pb(value: vendor_pb2.VendorUpdate) -> VendorUpdate:
    paths = set(value.update_mask.paths)
    unknown = sorted(paths - UPDATE_FIELDS)
    if unknown:
        raise ValidationFailed(
            f"update_mask names unknown fields: {', '.join(unknown)}",
            details={"field": "update_mask", "unknown": unknown},
        )
    stray = sorted(f for f in UPDATE_FIELDS - paths if value.HasField(f))
    if stray:
        raise ValidationFailed(
            f"fields set but not in update_mask: {', '.join(stray)}",
            details={"field": "update_mask", "unmasked": stray},
        )
    return _validated(VendorUpdate, {field: _opt(value, field) for field in paths})
