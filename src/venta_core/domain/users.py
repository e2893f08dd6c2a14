"""Users, identities and the acting party of a service call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from venta_core.domain.base import DomainModel, UtcDatetime
from venta_core.domain.geo import Location
from venta_core.domain.text import Text

__all__ = [
    "Actor",
    "Identity",
    "Subscription",
    "SubscriptionStatus",
    "SubscriptionUpdate",
    "User",
]


class SubscriptionStatus(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"  # still entitled until it expires
    BILLING_ISSUE = "billing_issue"
    EXPIRED = "expired"


class Subscription(DomainModel):
    status: SubscriptionStatus = SubscriptionStatus.INACTIVE
    provider: str | None = None
    product_id: str | None = None
    expires_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class SubscriptionUpdate(DomainModel):
    status: SubscriptionStatus
    provider: Text
    product_id: Text | None = None
    expires_at: UtcDatetime | None = None
    event_id: Text | None = None


class User(DomainModel):
    id: str
    external_id: str
    subscription: Subscription = Subscription()
    location: Location | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token says the caller is (before the user row is looked up)."""

    subject: str
    provider: str
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Actor:
    """The party a service acts for. Domain rules (ownership) are checked against it."""

    user_id: str | None
    external_id: str | None = None
    system: bool = False

    @classmethod
    def for_system(cls, reason: str = "system") -> Actor:
        return cls(user_id=None, external_id=reason, system=True)

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(user_id=user.id, external_id=user.external_id)

    def may_act_for(self, owner_id: str) -> bool:
        return self.system or (self.user_id is not None and self.user_id == owner_id)
