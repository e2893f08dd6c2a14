"""Live positions and nearby results."""

from __future__ import annotations

from venta_core.domain.base import DomainModel, UtcDatetime
from venta_core.domain.geo import Location

__all__ = ["VendorCluster", "VendorPosition"]


class VendorPosition(DomainModel):
    id: str
    location: Location
    distance: float | None = None  # metres from the query centre, when there is one
    updated_at: UtcDatetime | None = None  # when the vendor was last seen there
    # What the live map shows of the vendor (a pin), when asked for
    name: str | None = None
    open: bool | None = None
    primary_image: str | None = None


class VendorCluster(DomainModel):
    """The live vendors of one geohash cell of a viewport: how many, and their centroid."""

    cell: str
    count: int
    location: Location
