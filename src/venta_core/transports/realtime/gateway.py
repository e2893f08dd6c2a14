"""``RealtimeGateway``: the Socket.IO server of the ``ws`` role.

python-socketio speaks the protocol (Engine.IO v4 handshake, long-polling, websocket upgrade,
pings, namespaces, connect errors); this module authenticates connections, validates and rate
limits events, calls the location service, and fans positions out through ``CellHub`` and
``Sender`` (direct websocket writes) rather than socket.io rooms. docs/realtime.md explains why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import socketio

from venta_core.domain import Actor, BoundingBox, Location
from venta_core.errors import (
    AccountDeleted,
    Forbidden,
    InternalError,
    LocationNotFound,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
    VendorNotFound,
    VentaError,
)
from venta_core.events import EventEnvelope, VendorEventData, event_subject
from venta_core.observability import tracing
from venta_core.ports.bus import BusMessage, EventBus, Subscription
from venta_core.ports.presence import PresenceStore
from venta_core.transports import VentaApp
from venta_core.transports.http.auth import IdentityCache
from venta_core.transports.realtime.auth import Refused, expiry_from, token_from
from venta_core.transports.realtime.edge import SocketIOEdge, guard_messages
from venta_core.transports.realtime.extensions import PluginEvents
from venta_core.transports.realtime.fanout import Sender
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.limits import ConnectRate, IdentityLimits
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.presence import Presence
from venta_core.transports.realtime.protocol import (
    USER_NS,
    VENDOR_NS,
    Outgoing,
    StrictPacket,
    UserLocationMessage,
    VendorLocationMessage,
    error_payload,
    parse,
)
from venta_core.transports.realtime.recovery import (
    RECOVERABLE,
    RecoveringServer,
    RecoveryStore,
    Saved,
    new_pid,
)
from venta_core.transports.realtime.session import Session
from venta_core.transports.realtime.wire import WireRegistry

__all__ = ["RealtimeApp", "RealtimeGateway"]

log = logging.getLogger(__name__)

Handler = Callable[[Session, Any], Awaitable[None]]

_PRESENCE_ACTOR = Actor.for_system("presence")


class RealtimeApp(VentaApp, Protocol):
    """What the gateway uses of the application: a transport's view plus the event bus."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def presence(self) -> PresenceStore: ...


class RealtimeGateway:
    def __init__(self, app: RealtimeApp, metrics: RealtimeMetrics) -> None:
        self.app = app
        self.metrics = metrics
        settings = app.settings
        rt = settings.realtime
        self._rt = rt
        self._prefix = settings.key_prefix
        self._precision = settings.geo.cell_precision
        self._leeway = float(settings.auth.leeway_seconds)
        self.recovery = (
            RecoveryStore(app.kv, rt.recovery_seconds) if rt.recovery_seconds > 0 else None
        )
        self.sio = RecoveringServer(
            store=self.recovery,
            pid_of=self._pid_of,
            connected=self._connected,
            async_mode="asgi",
            namespaces=[USER_NS, VENDOR_NS],
            cors_allowed_origins=rt.cors_origins or None,
            ping_interval=rt.ping_interval_seconds,
            ping_timeout=rt.ping_timeout_seconds,
            max_http_buffer_size=rt.max_payload_bytes,
            serializer=StrictPacket,
            logger=False,
            engineio_logger=False,
        )
        guard_messages(self.sio)  # a malformed packet ends its connection (see edge)
        self.wires = WireRegistry()
        self.sender = Sender(
            self.sio.eio,
            self.wires,
            rt.max_send_buffer_bytes,
            self._too_slow,
            metrics.deliveries,
            conflate_above_bytes=rt.conflate_above_bytes or None,
            conflated=metrics.conflated,
        )
        self.hub = CellHub(
            bus=app.bus,
            locations=app.locations,
            sender=self.sender,
            metrics=metrics,
            prefix=self._prefix,
            precision=self._precision,
            max_cells=rt.max_viewport_cells,
            max_vendors=settings.location.max_limit,
            max_pins=rt.max_viewport_pins,
            max_clusters=settings.location.max_clusters,
            coalesce=rt.coalesce_moves,
        )
        metrics.fanout_backlog.set_function(self.hub.backlog)
        self.presence = Presence(
            app.presence,
            ttl_seconds=rt.presence_ttl_seconds,
            grace_seconds=rt.offline_grace_seconds,
            sweep_seconds=rt.presence_sweep_seconds,
            on_offline=self._vendor_offline,
            on_swept=metrics.vendors_offline.inc,
        )
        self.identities = IdentityCache(settings.auth.identity_cache_seconds)
        self.limits = IdentityLimits(
            {
                VENDOR_NS: rt.vendor_messages_per_minute,
                USER_NS: rt.user_messages_per_minute,
            },
            rt.max_connections_per_user,
        )
        self.sessions: dict[tuple[str, str], Session] = {}
        self._subscriptions: list[Subscription] = []
        self._resync_task: asyncio.Task[None] | None = None
        self._register()
        self.plugin_events = PluginEvents(self)  # plugins' events and presence hook
        self.plugin_events.register()

    # -- lifecycle -----------------------------------------------------------------------------

    def asgi(self, other: Any = None) -> Any:
        """The ASGI app: Socket.IO at ``/socket.io/``, everything else to ``other``."""
        inner = socketio.ASGIApp(self.sio, other_asgi_app=other, socketio_path="socket.io")
        per_ip = self._rt.connects_per_ip_per_minute
        return SocketIOEdge(
            self.wires.wrap(inner),
            eio=self.sio.eio,
            max_payload_bytes=self._rt.max_payload_bytes,
            connects=ConnectRate(self.app.kv, per_ip) if per_ip else None,
            trust_forwarded_for=self.app.settings.http.trust_forwarded_for,
            on_refused=lambda error: self.metrics.refused.labels(error.code).inc(),
        )

    async def start(self) -> None:
        """Subscribe to what this process needs from the bus (after the application started)."""
        deleted = event_subject(self._prefix, "vendor.deleted")
        self._subscriptions.append(await self.app.bus.subscribe(deleted, self._on_vendor_deleted))
        updated = event_subject(self._prefix, "vendor.updated")
        self._subscriptions.append(await self.app.bus.subscribe(updated, self._on_vendor_updated))
        self.hub.start_refresh(self._rt.cluster_refresh_seconds)
        gone = event_subject(self._prefix, "user.deleted")
        self._subscriptions.append(await self.app.bus.subscribe(gone, self._on_user_deleted))
        await self.presence.start()
        if self._rt.resync_seconds > 0:
            self._resync_task = asyncio.ensure_future(self._resync_forever(self._rt.resync_seconds))

    async def stop(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
            with contextlib.suppress(BaseException):
                await self._resync_task
            self._resync_task = None
        await self.presence.stop()
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        await self.hub.close()
        await self.sender.drain()

    def draining(self) -> None:
        """The process is shutting down: dropped vendors are not taken offline (they reconnect
        to another process; their presence expires if they do not)."""
        self.presence.stopping = True

    async def _resync_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                repairs = await self.hub.resync()
            except ServiceUnavailable:
                continue  # the geo index's outage is logged once by its connection
            except Exception:
                log.warning("re-sync of watched cells failed", exc_info=True)
                continue
            if repairs:
                self.metrics.resync_repairs.inc(repairs)
                log.info("re-sync repaired %d vendors in watched cells", repairs)

    # -- connections ---------------------------------------------------------------------------

    def _register(self) -> None:
        for ns in (USER_NS, VENDOR_NS):
            self.sio.on("connect", self._connect_handler(ns), namespace=ns)
            self.sio.on("disconnect", self._disconnect_handler(ns), namespace=ns)
            self.sio.on("*", self._unknown_handler(ns), namespace=ns)
        vendor = self._event(VENDOR_NS, "updateVendorLocation", self._vendor_location)
        user = self._event(USER_NS, "updateUserLocation", self._user_location)
        self.sio.on("updateVendorLocation", vendor, namespace=VENDOR_NS)
        self.sio.on("updateUserLocation", user, namespace=USER_NS)

    def _connect_handler(self, ns: str) -> Callable[..., Awaitable[None]]:
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            try:
                session = await self._authenticate(ns, sid, environ, auth)
            except VentaError as exc:
                self.metrics.refused.labels(exc.code).inc()
                raise Refused(exc.code, exc.message) from None
            except Exception:
                log.exception("connect failed")
                self.metrics.refused.labels("INTERNAL").inc()
                raise Refused("INTERNAL", "Internal error") from None
            await self._claim(session)
            self.sessions[(ns, sid)] = session
            self.metrics.connections_total.labels(ns).inc()
            self.metrics.connected.labels(ns).inc()

        return connect

    async def _authenticate(self, ns: str, sid: str, environ: dict[str, Any], auth: Any) -> Session:
        token = token_from(environ, auth)
        if token is None:
            raise Unauthenticated(
                "A token is required: auth {token}, Authorization: Bearer, or ?token="
            )
        identity = await self.app.identity.verify(token)
        expires_at = expiry_from(identity.claims)  # an exp that is no time: refused
        user = self.identities.get(identity.subject)
        if user is None:
            user = await self.app.users.ensure_user(identity.subject)
            if self.identities.is_deleted(user.id):  # deleted while it was being looked up
                raise AccountDeleted()
            self.identities.put(identity.subject, user)
        limiter = self.limits.open(ns, user.id)  # past the connection cap: RateLimited
        return Session(
            sid=sid,
            namespace=ns,
            eio_sid=self.sio.manager.eio_sid_from_sid(sid, ns) or "",
            user_id=user.id,
            subject=identity.subject,
            actor=Actor.for_user(user),
            expires_at=expires_at,
            limiter=limiter,
        )

    def _disconnect_handler(self, ns: str) -> Callable[..., Awaitable[None]]:
        async def disconnect(sid: str, reason: Any = None) -> None:
            session = self.sessions.pop((ns, sid), None)
            if session is None:
                return
            session.closed = True
            self.limits.close(ns, session.user_id)
            self.metrics.connected.labels(ns).dec()
            saved = self._saved(session) if reason in RECOVERABLE else None
            if ns == USER_NS:
                await self.hub.leave(session)
            else:
                self.presence.disconnected(session)
            if saved is not None and self.recovery is not None:
                await self.recovery.save(session.pid, saved)

        return disconnect

    # -- connection state recovery (see ``recovery``) -------------------------------------------

    def _pid_of(self, ns: str, sid: str) -> str | None:
        session = self.sessions.get((ns, sid))
        return session.pid if session is not None else None

    async def _claim(self, session: Session) -> None:
        """Give ``session`` its ``pid``: the one of the dropped session it recovers, if it
        offered one that is still kept for the same user (and takes it first), or a new one."""
        offer = self.sio.offers.get((session.eio_sid, session.namespace))
        if (
            offer is not None
            and self.recovery is not None
            and offer.saved.sid == session.sid
            and offer.saved.user_id == session.user_id
            and await self.recovery.take(offer.pid)
        ):
            session.pid = offer.pid
            session.restoring = offer.saved
        else:
            session.pid = new_pid()

    def _saved(self, session: Session) -> Saved | None:
        """What to keep of a dropped session (``None``: nothing worth recovering)."""
        if self.recovery is None or not session.pid:
            return None
        saved = Saved(sid=session.sid, namespace=session.namespace, user_id=session.user_id)
        if session.namespace == VENDOR_NS:
            saved.vendors = sorted(session.vendors)
            saved.default_vendor = session.default_vendor
        elif session.rect is not None:
            s, w, n, e, _ = session.rect
            saved.view = (s, w, n, e)
            known = dict.fromkeys(session.left or ())
            for name in session.full_cells:
                cell = self.hub.cells.get(name)
                if cell is not None:
                    known.update(dict.fromkeys(cell.members))
            known.update(dict.fromkeys(session.edge_visible))
            saved.known = list(known)
        return saved

    async def _connected(self, ns: str, sid: str) -> None:
        """The client has its CONNECT: a recovered session gets its state back."""
        session = self.sessions.get((ns, sid))
        if session is None or session.restoring is None:
            return
        saved, session.restoring = session.restoring, None
        self.metrics.recovered.labels(ns).inc()
        if ns == VENDOR_NS:
            session.vendors = set(saved.vendors)
            session.default_vendor = saved.default_vendor
            for vendor_id in session.vendors:
                await self.presence.online(session, vendor_id)
            return
        if saved.view is not None:
            async with session.lock:
                await self._replay(session, saved)

    async def _replay(self, session: Session, saved: Saved) -> None:
        """Watch the saved viewport again and send the latest state of every vendor in it
        (pin fields for those the client did not know) and ``vendor_left`` for those it knew
        that are gone; a viewport answered with clusters gets its clusters again."""
        assert saved.view is not None
        s, w, n, e = saved.view
        box = BoundingBox(sw=Location(lat=s, long=w), ne=Location(lat=n, long=e))
        try:
            event, visible = await self.hub.view(session, box)
        except ServiceUnavailable:
            event, visible = "vendor_channels", []
        if session.closed:
            return
        if event != "vendor_channels":  # a zoomed-out viewport: its clusters, as on a fresh view
            self.sender.push(session, Outgoing(USER_NS, event, visible))
            self.metrics.messages_out.labels(event).inc()
            return
        known = set(saved.known)
        for item in visible:
            vid = item["id"]
            payload = {"id": vid, "location": item["location"]} if vid in known else item
            self.sender.push(session, Outgoing(USER_NS, "vendor_sync", payload))
        self.metrics.messages_out.labels("vendor_sync").inc(len(visible))
        gone = known - {item["id"] for item in visible}
        for vid in gone:
            self.sender.push(session, Outgoing(USER_NS, "vendor_left", {"id": vid}))
        self.metrics.messages_out.labels("vendor_left").inc(len(gone))

    def _too_slow(self, session: Session) -> None:
        wire = session.backlog.wire if session.backlog is not None else session.wire
        session.backlog = None
        transport = wire.transport
        self.metrics.slow_consumers.inc()
        log.warning("dropping connection %s: it does not read fast enough", session.sid)
        wire.close()
        if transport is not None:
            transport.abort()

    # -- events --------------------------------------------------------------------------------

    def _event(self, ns: str, event: str, handler: Handler) -> Callable[..., Awaitable[None]]:
        async def on_event(sid: str, data: Any = None, *extra: Any) -> None:
            session = self.sessions.get((ns, sid))
            if session is not None:
                await self.run_event(session, event, handler, data)

        return on_event

    async def run_event(self, session: Session, event: str, handler: Handler, data: Any) -> None:
        """Handle ``event`` of ``session`` as every event is handled, built-in or a plugin's:
        counted, in a SERVER span when tracing is on (the calls it makes and the live
        message it publishes join its trace), then ``_guarded``."""
        ns = session.namespace
        self.metrics.messages_in.labels(ns, event).inc()
        if not tracing.active():
            await self._guarded(session, handler, data)
            return
        attributes = {"venta.ws.namespace": ns, "venta.ws.event": event}
        with tracing.server_span(f"{event} {ns}", attributes):
            await self._guarded(session, handler, data)

    def _unknown_handler(self, ns: str) -> Callable[..., Awaitable[None]]:
        async def unknown(event: Any, sid: str, *data: Any) -> None:
            session = self.sessions.get((ns, sid))
            if session is None:
                return
            self.metrics.messages_in.labels(ns, "other").inc()

            async def reject(_: Session, __: Any) -> None:
                if not isinstance(event, str):  # the protocol lets a client send a number
                    raise ValidationFailed(f"Event names are strings, got {str(event)[:64]}")
                raise ValidationFailed(f'Unknown event "{event[:64]}" on {ns}')

            await self._guarded(session, reject, None)

        return unknown

    async def _guarded(self, session: Session, handler: Handler, data: Any) -> None:
        """Run a handler: expired token -> error and disconnect; rate limit; errors -> ``error``."""
        if session.token_expired(self._leeway):
            self._send_error(
                session, Unauthenticated("Token expired", details={"reason": "expired"})
            )
            await self.sio.disconnect(session.sid, namespace=session.namespace)
            return
        try:
            session.limiter.hit()
            async with session.lock:  # one event at a time per connection, in arrival order
                await handler(session, data)
        except VentaError as exc:
            if exc.code == "RATE_LIMITED":
                self.metrics.rate_limited.labels(session.namespace).inc()
            self._send_error(session, exc)
        except Exception:
            log.exception("handling an event on %s failed", session.namespace)
            self._send_error(session, InternalError())

    def _send_error(self, session: Session, error: VentaError) -> None:
        self.metrics.errors.labels(error.code).inc()
        tracing.answered_with_error(error.code, fault=error.http_status >= 500)
        self.sender.push(session, Outgoing(session.namespace, "error", error_payload(error)))

    async def _vendor_location(self, session: Session, data: Any) -> None:
        """Store the position; the location service publishes it on its cell (and on the cell
        it left, if it changed), which is how every watcher, on any process, hears of it."""
        message = parse(VendorLocationMessage, data)
        vendor_id = message.vendor_id() or await self._default_vendor(session)
        first = vendor_id not in session.vendors
        await self.app.locations.update_vendor_location(session.actor, vendor_id, message.location)
        session.vendors.add(vendor_id)
        if first:
            await self.presence.online(session, vendor_id)
            await self.plugin_events.presence(vendor_id, online=True)

    async def _default_vendor(self, session: Session) -> str:
        if session.default_vendor is None:
            owned = await self.app.users.list_user_vendors(session.user_id)
            if not owned:
                raise Forbidden("You own no vendor")
            if len(owned) > 1:
                raise ValidationFailed(
                    f"vendorId is required: you own {len(owned)} vendors",
                    details={"field": "vendorId"},
                )
            session.default_vendor = owned[0].id
        return session.default_vendor

    async def _user_location(self, session: Session, data: Any) -> None:
        box = parse(UserLocationMessage, data).box()
        event, items = await self.hub.view(session, box)  # pins, or clusters when wide
        if session.closed:
            return
        self.sender.push(session, Outgoing(USER_NS, event, items))
        session.left = None  # the client replaces its map: what left before is moot
        self.metrics.messages_out.labels(event).inc()

    # -- offline and deleted vendors -----------------------------------------------------------

    async def _vendor_offline(self, vendor_id: str) -> None:
        """Remove an expired vendor's position; the location service announces it on the
        vendor's cell. Only vendors whose owner published through a connection are ever held,
        so the system acts here on the owner's behalf."""
        with contextlib.suppress(VendorNotFound, LocationNotFound):  # deleted meanwhile
            await self.app.locations.remove_vendor_location(_PRESENCE_ACTOR, vendor_id)
        await self.plugin_events.presence(vendor_id, online=False)

    async def _on_vendor_deleted(self, message: BusMessage) -> None:
        envelope = EventEnvelope.model_validate_json(message.data)
        vendor_id = str(envelope.data.get("id", ""))
        if vendor_id:
            self.hub.vendor_removed(vendor_id)

    async def _on_vendor_updated(self, message: BusMessage) -> None:
        """A profile change reaches the users who see the vendor here (its pin)."""
        try:
            data = VendorEventData.model_validate(
                EventEnvelope.model_validate_json(message.data).data
            )
        except ValueError:
            return
        if data.name is not None:
            self.hub.vendor_changed(data.id, data.name, bool(data.open), data.primary_image)

    # -- deleted users -------------------------------------------------------------------------

    async def _on_user_deleted(self, message: BusMessage) -> None:
        """``user.deleted`` reaches every ws process: forget the identity, close the user's
        connections here."""
        envelope = EventEnvelope.model_validate_json(message.data)
        user_id = str(envelope.data.get("id", ""))
        self.identities.discard(str(envelope.data.get("externalId", "")), user_id)
        if user_id:
            await self.close_user(user_id, AccountDeleted())

    async def close_user(self, user_id: str, error: VentaError) -> int:
        """Send ``error`` to every connection of ``user_id`` on this process, then close them;
        how many there were."""
        doomed = [s for s in self.sessions.values() if s.user_id == user_id]
        for session in doomed:
            self._send_error(session, error)
            await self.sio.disconnect(session.sid, namespace=session.namespace)
        if doomed:
            log.info("closed %d connection(s) of a deleted user", len(doomed))
        return len(doomed)
