"""Built-in in-process ports, the embedded default: the geo index, key-value store, presence,
event bus and event stream of one process.

Each hook answers only when the URL of the shared backend is unset (``VENTA_REDIS_URL`` for the
geo index, key-value store and presence; ``VENTA_NATS_URL`` for the bus and stream), and
``trylast``: any plugin answering the hook replaces it. A configured URL with its built-in
blocked therefore fails at start rather than falling back to a process-local port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.ports.bus import EventBus
    from venta_core.ports.geo import GeoIndex
    from venta_core.ports.kv import KeyValueStore
    from venta_core.ports.presence import PresenceStore
    from venta_core.ports.stream import EventStream


@hookimpl(trylast=True)
def venta_geo_index(app: Venta) -> GeoIndex | None:
    if app.settings.redis_url:
        return None
    from venta_core.ports.geo_memory import MemoryGeoIndex

    return MemoryGeoIndex()


@hookimpl(trylast=True)
def venta_key_value_store(app: Venta) -> KeyValueStore | None:
    if app.settings.redis_url:
        return None
    from venta_core.ports.kv_memory import MemoryKeyValue

    return MemoryKeyValue()


@hookimpl(trylast=True)
def venta_presence_store(app: Venta) -> PresenceStore | None:
    if app.settings.redis_url:
        return None
    from venta_core.ports.presence_memory import MemoryPresence

    return MemoryPresence()


@hookimpl(trylast=True)
def venta_event_bus(app: Venta) -> EventBus | None:
    if app.settings.nats_url:
        return None
    from venta_core.ports.bus_memory import MemoryEventBus

    return MemoryEventBus()


@hookimpl(trylast=True)
def venta_event_stream(app: Venta) -> EventStream | None:
    if app.settings.nats_url:
        return None
    from venta_core.ports.stream_memory import MemoryEventStream
    from venta_core.relay import stream_specs

    return MemoryEventStream(
        stream_specs(app.settings), max_msgs=app.settings.events.memory_max_msgs
    )
