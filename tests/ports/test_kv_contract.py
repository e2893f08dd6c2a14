"""The KeyValueStore contract (``venta_core.contracts.kv``), run against every implementation:
the ``kv`` fixture of conftest.py."""

from __future__ import annotations

from venta_core.testing import KeyValueContract


class TestKeyValueContract(KeyValueContract):
    pass
