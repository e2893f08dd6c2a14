"""RevenueCat webhook bodies and how each event type maps to a subscription status.

| event type | status | why |
|---|---|---|
| INITIAL_PURCHASE, RENEWAL, UNCANCELLATION, SUBSCRIPTION_EXTENDED, TEMPORARY_ENTITLEMENT_GRANT, REFUND_REVERSED | ``active`` | entitled, renewing |
| PRODUCT_CHANGE | ``active`` | only an active subscription changes product; the product and expiry stay those the event names until the renewal of the new product |
| NON_RENEWING_PURCHASE | ``active`` | when it grants an entitlement (consumables do not and are ignored) |
| CANCELLATION | ``cancelled``; ``expired`` when it expires at once (refund) | entitled until ``expiration_at_ms``, no renewal |
| SUBSCRIPTION_PAUSED | ``cancelled`` | entitled until the period ends, then an EXPIRATION follows |
| BILLING_ISSUE | ``billing_issue`` | payment failed; the store may grant a grace period |
| EXPIRATION | ``expired`` | entitlement ended |
| TRANSFER | the subscription moves: ``transferred_to`` users get the one of ``transferred_from``, who become ``expired`` | a purchase restored on another account |
| TEST | none | acknowledged |
| anything else (SUBSCRIBER_ALIAS, INVOICE_ISSUANCE, EXPERIMENT_ENROLLMENT, ...) | none | acknowledged, logged |

The fields venta reads are validated (an event that does not fit is refused with 400 and
changes nothing): ids and product ids are 1 to 255 characters (the database columns) without
control characters or unpaired surrogates (PostgreSQL refuses NUL and invalid UTF-8), and ``event_timestamp_ms`` /
``expiration_at_ms`` lie between the epoch and the end of year 9999. A subscriber attribute
naming the user is set by the app, not by RevenueCat: a value that is not a valid id is not
used. Fields venta does not read are kept as they came, unchecked.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from venta_core.domain import SubscriptionStatus

__all__ = [
    "ACTIVE_TYPES",
    "ANONYMOUS_PREFIX",
    "MAX_EPOCH_MS",
    "RevenueCatEvent",
    "RevenueCatWebhook",
    "known_ids",
    "ms_to_datetime",
    "status_for",
]

ANONYMOUS_PREFIX = "$RCAnonymousID:"
ACTIVE_TYPES = frozenset(
    {
        "INITIAL_PURCHASE",
        "RENEWAL",
        "UNCANCELLATION",
        "PRODUCT_CHANGE",
        "SUBSCRIPTION_EXTENDED",
        "TEMPORARY_ENTITLEMENT_GRANT",
        "REFUND_REVERSED",
        "NON_RENEWING_PURCHASE",
    }
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: 9999-12-31T23:59:59.999Z, the last millisecond a ``datetime`` holds.
MAX_EPOCH_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // timedelta(
    milliseconds=1
)


def _plain(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate
        raise ValueError("must be valid UTF-8") from None
    return value


#: Text PostgreSQL can store: no control characters (NUL included), valid UTF-8.
Text = Annotated[str, AfterValidator(_plain)]
#: An id that fits the database: at most 255 characters, no control characters.
Id = Annotated[str, StringConstraints(max_length=255), AfterValidator(_plain)]
#: Milliseconds since the epoch that a ``datetime`` can hold.
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]
_ID: TypeAdapter[str] = TypeAdapter(Annotated[Id, StringConstraints(min_length=1)])

_FIXED = {
    "SUBSCRIPTION_PAUSED": SubscriptionStatus.CANCELLED,
    "BILLING_ISSUE": SubscriptionStatus.BILLING_ISSUE,
    "EXPIRATION": SubscriptionStatus.EXPIRED,
}


class RevenueCatEvent(BaseModel):
    """The fields venta reads; RevenueCat sends many more (kept, unused)."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[Id, StringConstraints(min_length=1)]
    type: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    app_user_id: Id | None = None
    original_app_user_id: Id | None = None
    aliases: list[Id] = Field(default_factory=list)
    event_timestamp_ms: EpochMs | None = None
    expiration_at_ms: EpochMs | None = None
    product_id: Id | None = None
    new_product_id: Id | None = None
    entitlement_id: Text | None = None
    entitlement_ids: list[Text] | None = None
    environment: Text | None = None
    store: Text | None = None
    subscriber_attributes: dict[str, Any] = Field(default_factory=dict)
    transferred_from: list[Id] = Field(default_factory=list)
    transferred_to: list[Id] = Field(default_factory=list)

    @field_validator("aliases", "transferred_from", "transferred_to", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("subscriber_attributes", mode="before")
    @classmethod
    def _null_is_empty_dict(cls, value: Any) -> Any:
        return {} if value is None else value

    def attribute(self, name: str) -> str | None:
        """A subscriber attribute's value: ``{"value": ..., "updated_at_ms": ...}`` on the
        wire (a bare string is accepted too); ``None`` unless it is a valid id."""
        raw = self.subscriber_attributes.get(name)
        value = raw.get("value") if isinstance(raw, dict) else raw
        try:
            return _ID.validate_python(value, strict=True)
        except ValidationError:
            return None

    @property
    def entitlements(self) -> set[str]:
        found = set(self.entitlement_ids or ())
        if self.entitlement_id:
            found.add(self.entitlement_id)
        return found

    @property
    def expires_at(self) -> datetime | None:
        return ms_to_datetime(self.expiration_at_ms)

    def user_ids(self, attribute: str | None) -> list[str]:
        """Candidate external ids, most specific first, anonymous ids left out."""
        return known_ids(
            [
                self.attribute(attribute) if attribute else None,
                self.app_user_id,
                self.original_app_user_id,
                *self.aliases,
            ]
        )


class RevenueCatWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    api_version: str | None = None
    event: RevenueCatEvent


def known_ids(candidates: Iterable[str | None]) -> list[str]:
    """The ids that can name a venta user: not empty, not anonymous, each once, in order."""
    seen: list[str] = []
    for candidate in candidates:
        if candidate and not candidate.startswith(ANONYMOUS_PREFIX) and candidate not in seen:
            seen.append(candidate)
    return seen


def ms_to_datetime(value: int | None) -> datetime | None:
    """Exact (integer arithmetic, no float rounding); ``value`` within ``EpochMs``."""
    return None if value is None else _EPOCH + timedelta(milliseconds=value)


def status_for(event: RevenueCatEvent) -> SubscriptionStatus | None:
    """The status ``event`` sets, or ``None`` when it does not change entitlement (TRANSFER is
    handled apart: it moves a subscription between users)."""
    if event.type in ACTIVE_TYPES:
        if event.type == "NON_RENEWING_PURCHASE" and not event.entitlements:
            return None
        return SubscriptionStatus.ACTIVE
    if event.type == "CANCELLATION":
        ends, at = event.expiration_at_ms, event.event_timestamp_ms
        if ends is not None and at is not None and ends <= at:
            return SubscriptionStatus.EXPIRED
        return SubscriptionStatus.CANCELLED
    return _FIXED.get(event.type)
