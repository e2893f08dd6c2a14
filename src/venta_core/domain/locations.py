"""Live positions and nearby results."""

from __future__ import annotations

from venta_core.domain.base import DomainModel, UtcDatetime
from venta_core.domain.geo import Location

__all__ = ["VendorPosition"]


class VendorPosition(DomainModel):
    id: str
    location: Location
    distance: float | None = None  # metres from the query centre, when there is one
    updated_at: UtcDatetime | None = None
