"""Domain services: a Protocol each (``protocols``) and its local implementation."""

from venta_core.services.protocols import (
    LocationService,
    SubscriptionService,
    UserService,
    VendorService,
)

__all__ = ["LocationService", "SubscriptionService", "UserService", "VendorService"]
