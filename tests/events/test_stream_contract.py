"""The ``EventStream`` contract (``venta_core.contracts.stream``), run against the in-process
stream and JetStream alike: the ``streams`` fixture of conftest.py."""

from __future__ import annotations

from venta_core.testing import EventStreamContract


class TestEventStreamContract(EventStreamContract):
    pass
