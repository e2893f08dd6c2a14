"""``Venta``: the application object. Built from ``Settings``, it wires ports, loads plugins and
resolves each service; transports and the CLI only choose which roles a process plays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from venta_core.events import EventHandler
from venta_core.lifecycle import Checkable, Component
from venta_core.plugins import await_maybe, create_plugin_manager, schema_migrations
from venta_core.ports.bus import EventBus
from venta_core.ports.connections import SharedConnections
from venta_core.ports.geo import GeoIndex
from venta_core.ports.identity import IdentityProvider
from venta_core.ports.kv import KeyValueStore
from venta_core.ports.presence import PresenceStore
from venta_core.ports.search import SearchIndex
from venta_core.ports.stream import EventStream
from venta_core.ports.uploads import UploadStore
from venta_core.providers import exclusive_answer, require
from venta_core.relay import OutboxRelay
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
from venta_core.services.webhooks import WebhookDeliveries
from venta_core.settings import Settings, load_settings
from venta_core.startup import STARTUP_TIMEOUT_SECONDS, Backend, start_proven
from venta_core.store.engine import Database
from venta_core.store.positions import MovedEvents, PositionWriteBehind
from venta_core.store.tables import users, vendors

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from venta_core.ports.bus_nats import NatsEventBus
    from venta_core.ports.redis_conn import RedisConnection
    from venta_core.transports.worker import EventWorker

__all__ = ["Venta"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 2.0
#: The built-in plugin whose ports live in this process only.
IN_PROCESS_PORTS = "venta_core.builtins.memory"


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
        #: port hook -> name of the plugin that answered it
        self.providers: dict[str, str] = {}
        self.connections = SharedConnections(
            redis_url=self.settings.redis_url, nats_url=self.settings.nats_url
        )
        self.identity: IdentityProvider = self._provide(
            "venta_identity_provider", settings=self.settings
        )

        self.database = Database(self.settings)
        self.geo: GeoIndex = self._provide("venta_geo_index", app=self)
        self.kv: KeyValueStore = self._provide("venta_key_value_store", app=self)
        self.presence: PresenceStore = self._provide("venta_presence_store", app=self)
        self.bus: EventBus = self._provide("venta_event_bus", app=self)
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
            redis = self.connections.made_redis
            if redis is not None:  # Redis back after an outage: maybe empty, check now
                redis.dependency.on_recovery(self.geo_refill.wake)
        self._wire_services()
        self.stream: EventStream = self._provide("venta_event_stream", app=self)
        # JetStream delivers to core subscribers of the subject by itself; otherwise the relay
        # echoes each event on the bus (locations and runner subscribe there).
        echo = None if self._stream_reaches_bus() else self.bus
        self.relay = OutboxRelay(self.database, self.stream, self.settings, echo=echo)
        self.search_index: SearchIndex = self._provide("venta_search_index", app=self)
        # One store for the upload routes and the worker's image cleanup; None: all blocked.
        uploads = exclusive_answer(self.hook.venta_upload_store, app=self)
        self.upload_store: UploadStore | None = None
        if uploads is not None:
            self.upload_store = uploads.value
            self.providers["venta_upload_store"] = uploads.plugin
        self.worker: EventWorker | None = None
        self._started: list[Component] = []
        self.state: dict[str, Any] = {}  # room for transports and plugins

    def _provide(self, hook: str, **kwargs: Any) -> Any:
        """The port the first plugin answering ``hook`` provides (``MissingPort`` if none)."""
        answer = require(self.pm, hook, **kwargs)
        self.providers[hook] = answer.plugin
        return answer.value

    def redis_connection(self) -> RedisConnection:
        """The process's one Redis connection (``VENTA_REDIS_URL``), for the ports that share
        it: made on the first call, started before the ports and stopped after them."""
        return self.connections.redis()

    def nats_connection(self) -> NatsEventBus:
        """The process's one NATS connection (``VENTA_NATS_URL``): the built-in bus, and the
        connection JetStream runs on. Made on the first call, started before the bus."""
        return self.connections.nats()

    def port_providers(self) -> dict[str, str | None]:
        """Each port hook -> the plugin answering it (``None``: none does, as for an upload
        store when every store plugin is blocked)."""
        answers: dict[str, str | None] = dict(self.providers)
        answers.setdefault("venta_upload_store", None)
        return answers

    def _stream_reaches_bus(self) -> bool:
        """JetStream on the bus's own NATS connection hands each stored event to the bus's
        subscribers of its subject."""
        nats = self.connections.made_nats
        if nats is None or nats is not self.bus:
            return False
        from venta_core.ports.stream_jetstream import JetStreamEventStream

        return isinstance(self.stream, JetStreamEventStream)

    def _wire_services(self) -> None:
        """Each service is local unless ``VENTA_SERVICES__<NAME>__ADDRESS`` names a gRPC server."""
        remote = self.settings.remote_services
        self.subscriptions: SubscriptionService = LocalSubscriptionService(self.database)
        if not remote:
            clients = None
        else:
            from venta_core.transports.grpc.clients import GrpcClients
            from venta_core.transports.grpc.settings import placeholder_secret_warning

            clients = GrpcClients(self.settings.grpc)
            self.grpc_clients = clients
            warning = placeholder_secret_warning(self.settings.grpc, self.settings.env.value)
            if warning:
                log.warning(warning)
            in_process = {self.providers["venta_geo_index"], self.providers["venta_event_bus"]}
            if IN_PROCESS_PORTS in in_process:
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
                database=self.database,
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
                volatile=self.providers["venta_event_stream"] == IN_PROCESS_PORTS,
                deliveries=WebhookDeliveries(self.database),
            )
        return self.worker

    # -- lifecycle -----------------------------------------------------------------------------

    def components(self) -> list[Component]:
        """Long-lived components in start order (stopped in reverse)."""
        ordered: list[Component | None] = [
            self.database,
            self.grpc_clients,
            self.connections.made_redis,
            self.geo,
            self.kv,
            self.presence,
            self.connections.made_nats,  # the built-in bus itself
            self.bus,
            self.stream,
            self.search_index,
            self.upload_store if isinstance(self.upload_store, Component) else None,
            self.geo_refill,
            self._location_service,
            self.worker,  # stops after the relay, so its last pass is handled too
            self.relay,
            # stop first: their last flush writes outbox rows (vendor.moved) the relay sends
            self.vendor_positions,
            self.user_positions,
        ]
        return list({id(c): c for c in ordered if c is not None}.values())  # each once

    def checks(self) -> dict[str, Checkable]:
        """What /ready verifies, by role: every backend this process talks to."""
        candidates: dict[str, object] = {
            "database": self.database,
            "grpc": self.grpc_clients,
            "redis": self.connections.made_redis,
            "geo": self.geo,
            "kv": self.kv,
            "nats": None if self.connections.made_nats is self.bus else self.connections.made_nats,
            "bus": self.bus,
        }
        return {
            label: c
            for label, c in candidates.items()
            if c is not None and isinstance(c, Checkable)
        }

    async def start(self) -> None:
        """Start every component in order. Each backend is proven right after it starts (see
        ``startup.py``): a failure is a ``StartupError`` naming it, after what was started has
        been stopped again."""
        try:
            await self.prepare_database()
            for component in self.components():
                await start_proven(component, self._backend(component))
                self._started.append(component)
            for result in self.hook.venta_startup(app=self):
                await await_maybe(result)
        except BaseException:
            await self.stop()
            raise

    async def prepare_database(self) -> None:
        """Migrate at start, or check that the database answers and is at the newest schema
        (``start`` does it; a command that uses only the database calls it alone)."""
        from venta_core.store import migrate

        plugins = schema_migrations(self.settings, self.pm)
        if self.settings.auto_migrate:
            await migrate.upgrade_async(self.settings, plugins=plugins)
        else:
            await migrate.ensure_current(self.database, STARTUP_TIMEOUT_SECONDS, plugins)

    def _backend(self, component: Component) -> Backend | None:
        """The server behind ``component``, when it is one to prove at start."""
        if component is self.connections.made_redis and self.settings.redis_url:
            return Backend.redis(self.settings.redis_url)
        if component is self.connections.made_nats and self.settings.nats_url:
            return Backend.nats(self.settings.nats_url)
        return None

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
