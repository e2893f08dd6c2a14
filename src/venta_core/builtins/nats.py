"""Built-in NATS ports: the event bus (core NATS) and the event stream (JetStream), on the
application's one shared NATS connection, which is the built-in bus itself.

Each hook answers only when ``VENTA_NATS_URL`` is set, and ``trylast``: any plugin answering
the hook replaces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.ports.bus import EventBus
    from venta_core.ports.stream import EventStream


@hookimpl(trylast=True)
def venta_event_bus(app: Venta) -> EventBus | None:
    if not app.settings.nats_url:
        return None
    return app.nats_connection()


@hookimpl(trylast=True)
def venta_event_stream(app: Venta) -> EventStream | None:
    if not app.settings.nats_url:
        return None
    from venta_core.ports.stream_jetstream import JetStreamEventStream
    from venta_core.relay import stream_specs

    return JetStreamEventStream(app.nats_connection(), stream_specs(app.settings))
