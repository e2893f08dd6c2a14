"""Connections several ports share, made when a port first asks for one and owned by the
application.

The Redis-backed ports (geo index, key-value store, presence) share one ``RedisConnection``, and
JetStream runs on the NATS connection of the event bus. A port's hook asks for the connection
while it builds the port (``app.redis_connection()``, ``app.nats_connection()``), whichever
plugin provides the port. A connection nobody asked for is never made; one that was is
started before the ports and stopped after them (``Venta.components``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.settings import SettingsError

if TYPE_CHECKING:
    from venta_core.ports.bus_nats import NatsEventBus
    from venta_core.ports.redis_conn import RedisConnection

__all__ = ["SharedConnections"]


class SharedConnections:
    def __init__(self, *, redis_url: str | None, nats_url: str | None) -> None:
        self._redis_url = redis_url
        self._nats_url = nats_url
        self._redis: RedisConnection | None = None
        self._nats: NatsEventBus | None = None

    def redis(self) -> RedisConnection:
        """The Redis connection of ``VENTA_REDIS_URL`` (made on the first call)."""
        if self._redis is None:
            if not self._redis_url:
                raise SettingsError("VENTA_REDIS_URL is not set: no Redis connection to share")
            from venta_core.ports.redis_conn import RedisConnection

            self._redis = RedisConnection(self._redis_url)
        return self._redis

    def nats(self) -> NatsEventBus:
        """The NATS connection of ``VENTA_NATS_URL`` (made on the first call). It is a core
        NATS ``EventBus`` too: the built-in bus is this very object."""
        if self._nats is None:
            if not self._nats_url:
                raise SettingsError("VENTA_NATS_URL is not set: no NATS connection to share")
            from venta_core.ports.bus_nats import NatsEventBus

            self._nats = NatsEventBus(self._nats_url)
        return self._nats

    @property
    def made_redis(self) -> RedisConnection | None:
        return self._redis

    @property
    def made_nats(self) -> NatsEventBus | None:
        return self._nats
