"""The service Protocols: what the gateway, the real-time gateway, gRPC servicers and plugins
call. Each has a local implementation (this package) and a gRPC client (transports.grpc); both
are held to the same contract tests.

Every method raises ``VentaError`` subclasses only. ``actor`` is the party the call acts for;
ownership rules are checked against it inside the service, never in a transport.
"""

from __future__ import annotations

from typing import Protocol

from venta_core.domain import (
    Actor,
    BoundingBox,
    Location,
    Subscription,
    SubscriptionUpdate,
    User,
    Vendor,
    VendorCluster,
    VendorCreate,
    VendorPosition,
    VendorSummary,
    VendorUpdate,
)

__all__ = ["LocationService", "SubscriptionService", "UserService", "VendorService"]


class UserService(Protocol):
    async def ensure_user(self, external_id: str) -> User:
        """The user with this external identity, created on first sight (race-safe)."""
        ...

    async def get_user(self, user_id: str) -> User:
        """Raises ``UserNotFound``."""
        ...

    async def find_by_external_id(self, external_id: str) -> User | None: ...

    async def delete_user(self, user_id: str) -> None:
        """Delete the user with their vendors, live positions and subscription.
        Raises ``UserNotFound``."""
        ...

    async def list_user_vendors(self, user_id: str) -> list[VendorSummary]: ...

    async def set_subscription(self, user_id: str, update: SubscriptionUpdate) -> Subscription:
        """Apply a subscription change; the same ``event_id`` twice changes nothing."""
        ...


class SubscriptionService(Protocol):
    async def get(self, user_id: str) -> Subscription: ...

    async def apply(self, user_id: str, update: SubscriptionUpdate) -> Subscription: ...


class VendorService(Protocol):
    async def get_vendor(self, vendor_id: str) -> Vendor:
        """Raises ``VendorNotFound``."""
        ...

    async def create_vendor(self, actor: Actor, data: VendorCreate) -> Vendor:
        """A vendor owned by ``actor``."""
        ...

    async def update_vendor(self, actor: Actor, vendor_id: str, data: VendorUpdate) -> Vendor:
        """Raises ``VendorNotFound``, ``Forbidden`` (not the owner)."""
        ...

    async def delete_vendor(self, actor: Actor, vendor_id: str) -> None:
        """Delete the vendor and its live position. Raises ``VendorNotFound``, ``Forbidden``."""
        ...

    async def owner_of(self, vendor_id: str) -> str:
        """The owner's user id. Raises ``VendorNotFound``."""
        ...


class LocationService(Protocol):
    async def update_vendor_location(
        self, actor: Actor, vendor_id: str, location: Location
    ) -> VendorPosition:
        """Store a live position (geo index now, database write-behind) and publish it.
        Raises ``VendorNotFound``, ``Forbidden``."""
        ...

    async def update_user_location(self, actor: Actor, location: Location) -> None: ...

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        """Raises ``ValidationFailed`` when ``limit`` is out of range."""
        ...

    async def vendor_clusters(self, box: BoundingBox, precision: int) -> list[VendorCluster]:
        """The live vendors of ``box`` counted by geohash cell of ``precision`` characters,
        with their centroid. Raises ``ValidationFailed`` for a precision out of 1..12."""
        ...

    async def vendors_near(
        self, center: Location, radius_m: float, limit: int
    ) -> list[VendorPosition]:
        """Nearest first, each with ``distance``. Raises ``ValidationFailed`` for a radius or
        limit out of range."""
        ...

    async def get_vendor_location(self, vendor_id: str) -> VendorPosition:
        """Raises ``LocationNotFound``."""
        ...

    async def remove_vendor_location(self, actor: Actor, vendor_id: str) -> None:
        """Raises ``VendorNotFound``, ``Forbidden``."""
        ...
