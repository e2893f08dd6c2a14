"""``Venta``: the application object. Built from ``Settings``, it wires ports, loads plugins and
resolves each service; transports and the CLI only choose which roles a process plays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from venta_core.events import EventHandler
from venta_core.lifecycle import Checkable, Component
from venta_core.plugins import await_maybe, create_plugin_manager
from venta_core.ports.bus import EventBus
from venta_core.ports.geo import GeoIndex
from venta_core.ports.identity import IdentityProvider
from venta_core.ports.kv import KeyValueStore
from venta_core.ports.presence import PresenceStore
from venta_core.ports.search import SearchIndex
from venta_core.ports.stream import EventStream
from venta_core.relay import OutboxRelay, stream_specs
from venta_core.services.geo_refill import GeoRefill
from venta_core.services.locations import LocalLocationService
from venta_core.services.protocols import (
    LocationService,
    SubscriptionService,
    UserService,
    VendorService,
)
from venta_core.services.subscriptions import LocalSubscriptionService
from venta_core.services.users import LocalUserService
from venta_core.services.vendors import LocalVendorService
from venta_core.settings import Settings, load_settings
from venta_core.store.engine import Database
from venta_core.store.positions import MovedEvents, PositionWriteBehind
from venta_core.store.tables import users, vendors

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from venta_core.ports.redis_conn import RedisConnection
    from venta_core.transports.worker import EventWorker

__all__ = ["Venta"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 2.0


class _Ports(NamedTuple):
    redis: RedisConnection | None
    geo: GeoIndex
    kv: KeyValueStore
    presence: PresenceStore
    bus: EventBus


def _build_ports(settings: Settings) -> _Ports:
    """The geo index, key-value store, presence and bus chosen by settings (embedded unless a
    URL is set)."""
    redis_conn: RedisConnection | None = None
    geo: GeoIndex
    kv: KeyValueStore
    presence: PresenceStore
    if settings.redis_url:
        from venta_core.ports.geo_redis import RedisGeoIndex
        from venta_core.ports.kv_redis import RedisKeyValue
        from venta_core.ports.presence_redis import RedisPresence
        from venta_core.ports.redis_conn import RedisConnection

        conn = RedisConnection(settings.redis_url)
        redis_conn = conn
        geo = RedisGeoIndex(
            conn, prefix=settings.key_prefix, region_precision=settings.geo.region_precision
        )
        kv = RedisKeyValue(conn, prefix=settings.key_prefix)
        presence = RedisPresence(conn, prefix=settings.key_prefix)
    else:
        from venta_core.ports.geo_memory import MemoryGeoIndex
        from venta_core.ports.kv_memory import MemoryKeyValue
        from venta_core.ports.presence_memory import MemoryPresence

        geo, kv, presence = MemoryGeoIndex(), MemoryKeyValue(), MemoryPresence()
    bus: EventBus
    if settings.nats_url:
        from venta_core.ports.bus_nats import NatsEventBus

        bus = NatsEventBus(settings.nats_url)
    else:
        from venta_core.ports.bus_memory import MemoryEventBus

        bus = MemoryEventBus()
    return _Ports(redis_conn, geo, kv, presence, bus)


def _build_stream(settings: Settings, bus: EventBus) -> EventStream:
    """JetStream on the bus's NATS connection when NATS is configured, else in-process."""
    specs = stream_specs(settings)
    if settings.nats_url:
        from venta_core.ports.bus_nats import NatsEventBus
        from venta_core.ports.stream_jetstream import JetStreamEventStream

        assert isinstance(bus, NatsEventBus)
        return JetStreamEventStream(bus, specs)
    from venta_core.ports.stream_memory import MemoryEventStream

    return MemoryEventStream(specs, max_msgs=settings.events.memory_max_msgs)


class Venta:
    """Everything one venta process runs: ``async with Venta(settings) as app: ...``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: Iterable[object] = (),
        load_entry_points: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.pm = create_plugin_manager(
            self.settings, extra=plugins, load_entry_points=load_entry_points
        )
        self.hook = self.pm.hook
        identity = self.hook.venta_identity_provider(settings=self.settings)
        if identity is None:
            raise RuntimeError("no plugin provides an identity provider")
        self.identity: IdentityProvider = identity

        self.database = Database(self.settings)
        ports = _build_ports(self.settings)
        self._redis, self.geo, self.kv, self.presence, self.bus = ports
        loc = self.settings.location
        self.vendor_positions = PositionWriteBehind(
            self.database,
            vendors,
            interval=loc.flush_interval_seconds,
            max_pending=loc.flush_max_pending,
            name="vendors",
            moved=MovedEvents.from_settings(loc),
        )
        self.user_positions = PositionWriteBehind(
            self.database,
            users,
            interval=loc.flush_interval_seconds,
            max_pending=loc.flush_max_pending,
            name="users",
        )
        self.grpc_clients: Component | None = None
        self.geo_refill: GeoRefill | None = None
        if self.settings.location.warm_geo_index:
            self.geo_refill = GeoRefill(
                self.geo, self.database, check_seconds=loc.refill_check_seconds
            )
            if self._redis is not None:  # Redis back after an outage: maybe empty, check now
                self._redis.dependency.on_recovery(self.geo_refill.wake)
        self._wire_services()
        self.stream = _build_stream(self.settings, self.bus)
        # JetStream delivers to core subscribers of the subject by itself; in process the
        # relay echoes each event on the bus (locations and runner subscribe there).
        echo = None if self.settings.nats_url else self.bus
        self.relay = OutboxRelay(self.database, self.stream, self.settings, echo=echo)
        search_index = self.hook.venta_search_index(app=self)
        if search_index is None:
            raise RuntimeError("no plugin provides a search index")
        self.search_index: SearchIndex = search_index
        self.worker: EventWorker | None = None
        self._started: list[Component] = []
        self.state: dict[str, Any] = {}  # room for transports and plugins

    def _wire_services(self) -> None:
        """Each service is local unless ``VENTA_SERVICES__<NAME>__ADDRESS`` names a gRPC server."""
        remote = self.settings.remote_services
        self.subscriptions: SubscriptionService = LocalSubscriptionService(self.database)
        if not remote:
            clients = None
        else:
            from venta_core.transports.grpc.clients import GrpcClients

            clients = GrpcClients(self.settings.grpc)
            self.grpc_clients = clients
            if not (self.settings.redis_url and self.settings.nats_url):
                log.warning(
                    "services run in several processes but the geo index or bus is in-process; "
                    "set VENTA_REDIS_URL and VENTA_NATS_URL so all processes share them"
                )
        if clients is not None and "user" in remote:
            self.users: UserService = clients.users(remote["user"])
        else:
            self.users = LocalUserService(self.database, self.geo, self.subscriptions)
        if clients is not None and "vendor" in remote:
            self.vendors: VendorService = clients.vendors(remote["vendor"])
        else:
            self.vendors = LocalVendorService(self.database, self.geo)
        self._location_service: LocalLocationService | None = None
        if clients is not None and "location" in remote:
            self.locations: LocationService = clients.locations(remote["location"])
        else:
            self._location_service = LocalLocationService(
                self.settings,
                self.geo,
                self.bus,
                self.vendors,
                self.vendor_positions,
                self.user_positions,
                cache_owners="vendor" in remote,
            )
            self.locations = self._location_service

    def event_handlers(self) -> list[EventHandler]:
        """Every plugin's ``venta_event_handlers``, flattened."""
        results: list[list[EventHandler] | None] = self.hook.venta_event_handlers(app=self)
        return [h for group in results if group for h in group]

    def enable_worker(self, *, registry: CollectorRegistry | None = None) -> EventWorker:
        """Run the event handlers in this process (the worker role, or ``serve all``): call
        before ``start``. Metrics go to ``registry`` (shared with an HTTP app, say)."""
        if self.worker is None:
            from venta_core.observability.metrics import new_registry
            from venta_core.transports.worker import EventWorker, WorkerMetrics

            metrics = WorkerMetrics(
                registry if registry is not None else new_registry(),
                relay_published=lambda: self.relay.published,
            )
            self.worker = EventWorker(
                self.stream,
                self.event_handlers(),
                prefix=self.settings.key_prefix,
                settings=self.settings.worker,
                metrics=metrics,
                volatile=not self.settings.nats_url,
                database=self.database,
            )
        return self.worker

    # -- lifecycle -----------------------------------------------------------------------------

    def components(self) -> list[Component]:
        """Long-lived components in start order (stopped in reverse)."""
        ordered: list[Component | None] = [
            self.database,
            self.grpc_clients,
            self._redis,
            self.geo,
            self.kv,
            self.presence,
            self.bus,
            self.stream,
            self.search_index,
            self.geo_refill,
            self._location_service,
            self.worker,  # stops after the relay, so its last pass is handled too
            self.relay,
            # stop first: their last flush writes outbox rows (vendor.moved) the relay sends
            self.vendor_positions,
            self.user_positions,
        ]
        return [c for c in ordered if c is not None]

    def checks(self) -> dict[str, Checkable]:
        """What /ready verifies, by role: every backend this process talks to."""
        candidates: dict[str, object] = {
            "database": self.database,
            "grpc": self.grpc_clients,
            "redis": self._redis,
            "geo": self.geo,
            "kv": self.kv,
            "bus": self.bus,
        }
        return {
            label: c
            for label, c in candidates.items()
            if c is not None and isinstance(c, Checkable)
        }

    async def start(self) -> None:
        if self.settings.auto_migrate:
            from venta_core.store.migrate import upgrade_async

            await upgrade_async(self.settings)
        try:
            for component in self.components():
                await component.start()
                self._started.append(component)
            for result in self.hook.venta_startup(app=self):
                await await_maybe(result)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop in reverse order; each step bounded by a timeout; never raises."""
        for result in self.hook.venta_shutdown(app=self):
            try:
                await asyncio.wait_for(await_maybe(result), STOP_TIMEOUT_SECONDS)
            except Exception:
                log.exception("a plugin's shutdown hook failed")
        while self._started:
            component = self._started.pop()
            try:
                await asyncio.wait_for(component.stop(), STOP_TIMEOUT_SECONDS)
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)

    async def __aenter__(self) -> Venta:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def readiness(self) -> dict[str, str | None]:
        """Each backend's name -> None when reachable, else a short error text."""

        async def one(check: Checkable) -> str | None:
            try:
                await asyncio.wait_for(check.check(), CHECK_TIMEOUT_SECONDS)
            except TimeoutError:
                return "timed out"
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"[:200]
            return None

        checks = self.checks()
        results = await asyncio.gather(*(one(c) for c in checks.values()))
        return dict(zip(checks, results, strict=True))
