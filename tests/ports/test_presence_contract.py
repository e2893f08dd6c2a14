"""The PresenceStore contract (``venta_core.contracts.presence``), run against every
implementation: the ``presence`` fixture of conftest.py."""

from __future__ import annotations

from venta_core.testing import PresenceContract


class TestPresenceContract(PresenceContract):
    pass
