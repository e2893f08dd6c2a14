"""The EventBus contract (``venta_core.contracts.bus``), run against every implementation: the
``bus`` fixture of conftest.py, under the per-test subject root of this run."""

from __future__ import annotations

import pytest

from venta_core.testing import EventBusContract


class TestEventBusContract(EventBusContract):
    @pytest.fixture
    def subject_root(self, prefix: str) -> str:
        return prefix.replace("-", "_")
