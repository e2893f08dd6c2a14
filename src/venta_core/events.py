"""Domain events: the envelope and the registry of event types (type -> payload model).

Events are written to the outbox in the same transaction as the change they describe and relayed
to the bus under ``<prefix>.events.<type>``. The envelope is the wire format of CONTRACT.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from venta_core.domain.base import DomainModel
from venta_core.domain.users import SubscriptionStatus

__all__ = [
    "EVENT_TYPES",
    "EventEnvelope",
    "SubscriptionEventData",
    "UserEventData",
    "VendorEventData",
    "event_subject",
    "live_subject",
]


class VendorEventData(DomainModel):
    id: str
    owner_id: str
    name: str | None = None
    description: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    open: bool | None = None
    primary_image: str | None = None
    lat: float | None = None
    long: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VendorDeletedData(DomainModel):
    id: str
    owner_id: str


class UserEventData(DomainModel):
    id: str
    external_id: str


class SubscriptionEventData(DomainModel):
    user_id: str
    status: SubscriptionStatus
    provider: str | None = None
    product_id: str | None = None
    expires_at: datetime | None = None


EVENT_TYPES: dict[str, type[BaseModel]] = {
    "vendor.created": VendorEventData,
    "vendor.updated": VendorEventData,
    "vendor.deleted": VendorDeletedData,
    "user.created": UserEventData,
    "user.deleted": UserEventData,
    "subscription.updated": SubscriptionEventData,
}


class EventEnvelope(DomainModel):
    id: str
    type: str
    occurred_at: datetime
    request_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def new(cls, type_: str, data: BaseModel, request_id: str | None = None) -> EventEnvelope:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        return cls(
            id=str(uuid.uuid4()),
            type=type_,
            occurred_at=datetime.now(UTC),
            request_id=request_id,
            data=data.model_dump(mode="json", by_alias=True),
        )

    def payload(self) -> BaseModel:
        """The typed payload (validated against the registry)."""
        return EVENT_TYPES[self.type].model_validate(self.data)


def event_subject(prefix: str, type_: str) -> str:
    return f"{prefix}.events.{type_}"


def live_subject(prefix: str, cell: str, vendor_id: str) -> str:
    return f"{prefix}.live.{cell}.{vendor_id}"
