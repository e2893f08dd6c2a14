"""The GeoIndex contract (``venta_core.contracts.geo``), run against every implementation:
the ``geo`` fixture of conftest.py."""

from __future__ import annotations

from venta_core.testing import GeoIndexContract


class TestGeoIndexContract(GeoIndexContract):
    pass
