"""The port contract suites: what every implementation of a port must do, as pytest test
classes. venta runs them on its own implementations (in-process, Redis, NATS); a plugin that
provides a port subclasses the same class in its tests and provides the fixture the suite
names, so its implementation proves itself the same way (docs/plugins.md, "Writing a port").

They are reachable from ``venta_core.testing`` too. The suites are ``async`` tests: they need
pytest-asyncio (in venta's ``test`` extra).
"""

import pytest

# Before the suites are imported, so that pytest rewrites their asserts (detailed failures).
pytest.register_assert_rewrite(
    *(f"{__name__}.{suite}" for suite in ("bus", "geo", "kv", "presence", "stream"))
)

from venta_core.contracts.bus import EventBusContract  # noqa: E402
from venta_core.contracts.geo import GeoIndexContract  # noqa: E402
from venta_core.contracts.kv import KeyValueContract  # noqa: E402
from venta_core.contracts.presence import PresenceContract  # noqa: E402
from venta_core.contracts.stream import EventStreamContract, StreamUnderTest  # noqa: E402

__all__ = [
    "EventBusContract",
    "EventStreamContract",
    "GeoIndexContract",
    "KeyValueContract",
    "PresenceContract",
    "StreamUnderTest",
]
