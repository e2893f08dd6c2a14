"""Domain models: plain pydantic values, independent of every transport and store."""

from venta_core.domain.geo import BoundingBox, Location, haversine_m
from venta_core.domain.locations import VendorCluster, VendorPosition
from venta_core.domain.text import Text, is_storable
from venta_core.domain.users import (
    Actor,
    Identity,
    Subscription,
    SubscriptionStatus,
    SubscriptionUpdate,
    User,
)
from venta_core.domain.vendors import Vendor, VendorCreate, VendorSummary, VendorUpdate

__all__ = [
    "Actor",
    "BoundingBox",
    "Identity",
    "Location",
    "Subscription",
    "SubscriptionStatus",
    "SubscriptionUpdate",
    "Text",
    "User",
    "Vendor",
    "VendorCluster",
    "VendorCreate",
    "VendorPosition",
    "VendorSummary",
    "VendorUpdate",
    "haversine_m",
    "is_storable",
]
