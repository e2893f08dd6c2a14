"""The real-time gateway (``ws`` role): Socket.IO v4 clients on ``/vendor`` and ``/user``,
live positions fanned out by map cell, several processes joined by the event bus.

See docs/realtime.md for the protocol and docs/performance.md for the fan-out figures.
"""

from venta_core.transports.realtime.asgi import create_realtime_gateway, operations_app
from venta_core.transports.realtime.gateway import RealtimeApp, RealtimeGateway

__all__ = ["RealtimeApp", "RealtimeGateway", "create_realtime_gateway", "operations_app"]
