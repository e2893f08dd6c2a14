"""Domain events: the envelope, the registry of event types (type -> payload model) and the
``EventHandler`` the worker runs.

Events are written to the outbox in the same transaction as the change they describe, relayed
to the event stream under ``<prefix>.events.<type>`` (JetStream, or the in-process stream) and
handed to every handler that wants their type. Delivery is at least once and not strictly
ordered, so a handler must be idempotent: seeing an event twice, or an older event after a
newer one, must leave the same result. The envelope is the wire format of CONTRACT.md.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from venta_core.domain.base import DomainModel, UtcDatetime
from venta_core.domain.users import SubscriptionStatus

__all__ = [
    "DLQ_HEADERS",
    "EVENT_TYPES",
    "BatchCallback",
    "EventEnvelope",
    "EventHandler",
    "ImageReleaseReason",
    "ImageReleasedData",
    "MalformedEvent",
    "PoisonEvent",
    "SubscriptionEventData",
    "UserEventData",
    "VendorDeletedData",
    "VendorEventData",
    "VendorMovedData",
    "decode_event",
    "dlq_subject",
    "event_subject",
    "events_filter",
    "live_subject",
]


class VendorEventData(DomainModel):
    """``vendor.created`` / ``vendor.updated``: the whole vendor after the change.

    ``previous_primary_image`` is set on a ``vendor.updated`` whose change replaced or removed
    the vendor's ``primaryImage``: the URL it had before, so that a worker can delete an image
    nobody shows any more (absent from events written before it existed).
    """

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
    previous_primary_image: str | None = None


class VendorDeletedData(DomainModel):
    """``vendor.deleted``: the vendor's id and owner, and its ``primaryImage`` when it had one
    (absent from events written before it existed)."""

    id: str
    owner_id: str
    primary_image: str | None = None


class VendorMovedData(DomainModel):
    """``vendor.moved``: the vendor's last known position, as written to the database at the
    same time, and ``at``, when the vendor was there.

    Emitted from the write-behind of positions, coalesced: at most once per vendor every
    ``location.moved_event_interval_seconds``, sooner for a move farther than
    ``location.moved_event_min_meters`` (see docs/events.md). ``at`` orders the events of one
    vendor: a handler that keeps a position ignores one older than what it has.
    """

    id: str
    lat: float
    long: float
    at: UtcDatetime


#: Why a vendor gave up an image (``image.released``).
ImageReleaseReason = Literal["replaced", "removed", "deleted"]


class ImageReleasedData(DomainModel):
    """``image.released``: a vendor gave up the image at ``url``: ``replaced`` by another,
    ``removed``, or the vendor ``deleted`` (alone or with its owner).

    Written with the change, beside its ``vendor.updated`` or ``vendor.deleted`` (which carry
    the same URL as ``previousPrimaryImage`` or ``primaryImage``), so that what deletes unused
    images gets only these events instead of every profile update. Whether another vendor
    still shows the image is for the handler to read when it runs.
    """

    url: str
    vendor_id: str
    owner_id: str
    reason: ImageReleaseReason


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
    "vendor.moved": VendorMovedData,
    "image.released": ImageReleasedData,
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
        """The typed payload (validated against the registry), validated once per envelope:
        kept outside the model's fields, so it takes no part in equality or dumps."""
        cached = self.__dict__.get(_PAYLOAD)
        if cached is None:
            cached = EVENT_TYPES[self.type].model_validate(self.data)
            self.__dict__[_PAYLOAD] = cached  # frozen model: its fields, not this cache
        return cached


#: Where ``EventEnvelope.payload`` keeps the validated payload (not a field).
_PAYLOAD = "_venta_payload"


def event_subject(prefix: str, type_: str) -> str:
    return f"{prefix}.events.{type_}"


def dlq_subject(prefix: str, type_: str) -> str:
    """Where an event that cannot be handled is parked: ``<prefix>.dlq.<type>``."""
    return f"{prefix}.dlq.{type_}"


def events_filter(prefix: str, types: Iterable[str]) -> str:
    """The narrowest single subject filter covering ``types``: ``venta.events.vendor.created``
    for one type, ``venta.events.vendor.*`` for several of one family, ``venta.events.>``
    otherwise (NATS before 2.10 allows one filter per consumer)."""
    wanted = sorted(set(types))
    if len(wanted) == 1:
        return event_subject(prefix, wanted[0])
    families = {t.split(".", 1)[0] for t in wanted}
    if len(families) == 1 and all(t.count(".") == 1 for t in wanted):
        return f"{prefix}.events.{families.pop()}.*"
    return f"{prefix}.events.>"


#: Headers of a dead-lettered message: why, and where it came from.
DLQ_HEADERS = {
    "reason": "Venta-Dlq-Reason",
    "handler": "Venta-Dlq-Handler",
    "subject": "Venta-Dlq-Subject",
    "deliveries": "Venta-Dlq-Deliveries",
    "stream_seq": "Venta-Dlq-Stream-Seq",
}


class MalformedEvent(ValueError):
    """The bytes are not an envelope of a known type with a valid payload."""


class PoisonEvent(Exception):
    """Raised by a handler for an event it can never handle: it is dead-lettered at once
    instead of being retried."""


#: Envelopes decoded lately, by their bytes: each handler's consumer gets its own delivery of
#: an event, and the process decodes it once (bounded: the oldest are forgotten first).
_DECODED: OrderedDict[bytes, EventEnvelope] = OrderedDict()
DECODED_KEPT = 8192


def decode_event(data: bytes) -> EventEnvelope:
    """Parse and check an envelope (known type, payload valid for it); ``MalformedEvent``
    otherwise, with a short reason.

    The same bytes give the same envelope object, decoded once per process while recent
    (several handlers' consumers deliver each event): handlers must not change it."""
    data = bytes(data)  # the key: a memoryview or bytearray is not hashable
    envelope = _DECODED.get(data)
    if envelope is None:
        envelope = _decode(data)
        if len(_DECODED) >= DECODED_KEPT:
            _DECODED.popitem(last=False)
        _DECODED[data] = envelope
    return envelope


def _decode(data: bytes) -> EventEnvelope:
    try:
        envelope = EventEnvelope.model_validate_json(data)
    except ValidationError as exc:
        raise MalformedEvent(_first_error(exc, "envelope")) from None
    if envelope.type not in EVENT_TYPES:
        raise MalformedEvent(f"unknown event type {envelope.type[:64]!r}")
    try:
        envelope.payload()
    except ValidationError as exc:
        raise MalformedEvent(_first_error(exc, "data")) from None
    return envelope


def _first_error(exc: ValidationError, where: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or where
    return f"invalid {where}: {loc}: {first.get('msg', 'invalid')}"[:300]


_HANDLER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

EventCallback = Callable[[EventEnvelope], Awaitable[None]]
BatchCallback = Callable[[Sequence[EventEnvelope]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EventHandler:
    """A handler of durable domain events, run by the worker role.

    ``name`` identifies its durable consumer (its position in the stream survives restarts),
    so it must stay the same across releases. ``handle`` gets each event of ``event_types``
    at least once; it returns to acknowledge, raises to have the event retried with backoff
    (dead-lettered after ``worker.max_deliver`` deliveries), or raises ``PoisonEvent`` to
    dead-letter it at once. ``concurrency`` caps the events it works on at the same time
    (default ``worker.concurrency``; 1 keeps stream order except for retries). The envelope
    is shared with the process's other handlers of its type (decoded once): do not change
    it.

    ``handle_batch``, when given, gets up to ``worker.batch_size`` events at once, in stream
    order, one batch after the other (``concurrency`` does not apply). It returns once every
    event is done (committed): they are all acknowledged then. When it raises, the worker hands
    each event of the batch to ``handle`` on its own, in order, so that one poison or failing
    event is dead-lettered or retried alone while the others are acknowledged.
    """

    name: str
    event_types: AbstractSet[str]
    handle: EventCallback = field(repr=False)
    concurrency: int | None = None
    handle_batch: BatchCallback | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _HANDLER_NAME.match(self.name):
            raise ValueError(f"handler name {self.name!r}: use 1-64 of A-Z a-z 0-9 _ -")
        object.__setattr__(self, "event_types", frozenset(self.event_types))
        unknown = sorted(self.event_types - EVENT_TYPES.keys())
        if unknown or not self.event_types:
            raise ValueError(
                f"handler {self.name!r}: unknown event types {unknown or '(none)'}; "
                f"known: {', '.join(sorted(EVENT_TYPES))}"
            )
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"handler {self.name!r}: concurrency must be at least 1")


def live_subject(prefix: str, cell: str, vendor_id: str) -> str:
    """A live position ``{vendorId, lat, long, at, pin}``. Published on the vendor's cell, and
    also on its previous cell when it moved out of it (the position then lies outside that
    cell)."""
    return f"{prefix}.live.{cell}.{vendor_id}"


def gone_subject(prefix: str, cell: str, vendor_id: str) -> str:
    """``{vendorId, at}``: the vendor's live position was removed (it went offline)."""
    return f"{prefix}.gone.{cell}.{vendor_id}"
