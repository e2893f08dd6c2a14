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
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from venta_core.domain import SubscriptionStatus

__all__ = [
    "ACTIVE_TYPES",
    "ANONYMOUS_PREFIX",
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
_FIXED = {
    "SUBSCRIPTION_PAUSED": SubscriptionStatus.CANCELLED,
    "BILLING_ISSUE": SubscriptionStatus.BILLING_ISSUE,
    "EXPIRATION": SubscriptionStatus.EXPIRED,
}


class RevenueCatEvent(BaseModel):
    """The fields venta reads; RevenueCat sends many more (kept, unused)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=64)
    app_user_id: str | None = None
    original_app_user_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    event_timestamp_ms: int | None = None
    expiration_at_ms: int | None = None
    product_id: str | None = None
    new_product_id: str | None = None
    entitlement_id: str | None = None
    entitlement_ids: list[str] | None = None
    environment: str | None = None
    store: str | None = None
    subscriber_attributes: dict[str, Any] = Field(default_factory=dict)
    transferred_from: list[str] = Field(default_factory=list)
    transferred_to: list[str] = Field(default_factory=list)

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
        wire (a bare string is accepted too)."""
        raw = self.subscriber_attributes.get(name)
        value = raw.get("value") if isinstance(raw, dict) else raw
        return value if isinstance(value, str) and value else None

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
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


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
