"""Built-in Redis ports: the geo index (Redis GEO keyed by region), key-value store and
presence, all on the application's one shared ``RedisConnection``.

Each hook answers only when ``VENTA_REDIS_URL`` is set, and ``trylast``: any plugin answering
the hook replaces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.ports.geo import GeoIndex
    from venta_core.ports.kv import KeyValueStore
    from venta_core.ports.presence import PresenceStore


@hookimpl(trylast=True)
def venta_geo_index(app: Venta) -> GeoIndex | None:
    if not app.settings.redis_url:
        return None
    from venta_core.ports.geo_redis import RedisGeoIndex

    settings = app.settings
    return RedisGeoIndex(
        app.redis_connection(),
        prefix=settings.key_prefix,
        region_precision=settings.geo.region_precision,
    )


@hookimpl(trylast=True)
def venta_key_value_store(app: Venta) -> KeyValueStore | None:
    if not app.settings.redis_url:
        return None
    from venta_core.ports.kv_redis import RedisKeyValue

    return RedisKeyValue(app.redis_connection(), prefix=app.settings.key_prefix)


@hookimpl(trylast=True)
def venta_presence_store(app: Venta) -> PresenceStore | None:
    if not app.settings.redis_url:
        return None
    from venta_core.ports.presence_redis import RedisPresence

    return RedisPresence(app.redis_connection(), prefix=app.settings.key_prefix)
