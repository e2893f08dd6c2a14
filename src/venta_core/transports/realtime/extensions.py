"""Plugins extend the real-time gateway: events of their own on ``/user`` and ``/vendor``, and
a word when a vendor goes online or offline.

A plugin answers ``venta_realtime_handlers(app)`` with ``RealtimeHandler``s: a namespace, an
event name, the pydantic model of its payload and an async callable. The gateway registers each
beside its own events and runs it the same way: only on an authenticated connection, counted
against that identity's rate limit, one event at a time per connection, the payload validated
into the model first. A ``VentaError`` the callable raises (or a payload that does not validate,
or a limit passed) reaches the client as the ``error`` event ``{code, message}``, and the
connection stays up; any other exception is an ``INTERNAL`` error and a log line. The callable
gets the ``RealtimeCaller`` (who sent it, through which connection) and the validated payload, and
answers ``None``, a JSON-able value (the Socket.IO acknowledgement, for a client that asked for
one), or ``Emit(event, data)`` (an event sent back to that connection).

``venta_vendor_presence(app, vendor_id, online)`` is called with ``online=True`` when a vendor
starts publishing through a connection (again after a reconnect) and with ``online=False`` once
when it goes offline: by the one process that takes its expired hold, after its live position
is removed. Errors there are logged and change nothing.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from venta_core.domain import Actor
from venta_core.settings import SettingsError
from venta_core.transports.realtime.protocol import USER_NS, VENDOR_NS, Outgoing, parse

if TYPE_CHECKING:
    from venta_core.transports.realtime.gateway import RealtimeGateway
    from venta_core.transports.realtime.session import Session

__all__ = ["RESERVED_EVENTS", "Emit", "PluginEvents", "RealtimeCaller", "RealtimeHandler"]

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

#: Names a plugin event may not take: Socket.IO's own and venta's (both directions).
RESERVED_EVENTS = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "error",
        "message",
        "updateVendorLocation",
        "updateUserLocation",
        "vendor_channels",
        "vendor_sync",
        "vendor_left",
        "vendor_clusters",
    }
)
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


@dataclass(frozen=True, slots=True)
class RealtimeCaller:
    """Who sent an event: the authenticated user, through which connection."""

    user_id: str
    subject: str
    actor: Actor
    namespace: str
    sid: str


@dataclass(frozen=True, slots=True)
class Emit:
    """A handler's answer sent to the calling connection as the event ``event``."""

    event: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class RealtimeHandler(Generic[P]):
    """A plugin's Socket.IO event: ``event`` on ``namespace`` (``"/user"`` or ``"/vendor"``),
    its payload validated as ``payload``, handled by ``handle(caller, payload)``."""

    namespace: str
    event: str
    payload: type[P]
    handle: Callable[[RealtimeCaller, P], Awaitable[Any]]


class PluginEvents:
    """The plugins' events and presence hook on one gateway."""

    def __init__(self, gateway: RealtimeGateway) -> None:
        self.gateway = gateway
        self.handlers: list[RealtimeHandler[Any]] = []

    def register(self) -> None:
        """Ask ``venta_realtime_handlers`` and register every answer on the Socket.IO server;
        a handler on no namespace, with a reserved or taken name, is a ``SettingsError``."""
        taken: set[tuple[str, str]] = set()
        for group in self.gateway.app.hook.venta_realtime_handlers(app=self.gateway.app):
            for handler in group or ():
                _check(handler, taken)
                taken.add((handler.namespace, handler.event))
                self.handlers.append(handler)
                self.gateway.sio.on(
                    handler.event, self._on_event(handler), namespace=handler.namespace
                )

    def _on_event(self, handler: RealtimeHandler[Any]) -> Callable[..., Awaitable[Any]]:
        gateway = self.gateway
        ns, event = handler.namespace, handler.event

        async def on_event(sid: str, data: Any = None, *extra: Any) -> Any:
            session = gateway.sessions.get((ns, sid))
            if session is None:
                return None
            answer: list[Any] = []

            async def run(session: Session, data: Any) -> None:
                payload = parse(handler.payload, data)
                answer.append(await handler.handle(_caller(session), payload))

            await gateway.run_event(session, event, run, data)  # as built-in events are
            if answer and isinstance(answer[0], Emit):
                out = Outgoing(ns, answer[0].event, answer[0].data)
                gateway.sender.push(session, out)
                return None
            return answer[0] if answer else None

        return on_event

    async def presence(self, vendor_id: str, online: bool) -> None:
        """Tell every plugin that ``vendor_id`` went online or offline; never raises."""
        app = self.gateway.app
        try:
            results = app.hook.venta_vendor_presence(app=app, vendor_id=vendor_id, online=online)
            for result in results:
                if inspect.isawaitable(result):
                    await result
        except Exception:
            log.exception("a plugin's venta_vendor_presence hook failed")


def _caller(session: Session) -> RealtimeCaller:
    return RealtimeCaller(
        session.user_id, session.subject, session.actor, session.namespace, session.sid
    )


def _check(handler: Any, taken: set[tuple[str, str]]) -> None:
    if not isinstance(handler, RealtimeHandler):
        raise SettingsError(f"venta_realtime_handlers answered {handler!r}, not RealtimeHandler")
    where = f"real-time event {handler.event!r} on {handler.namespace!r}"
    if handler.namespace not in (USER_NS, VENDOR_NS):
        raise SettingsError(f"{where}: the namespace is {USER_NS!r} or {VENDOR_NS!r}")
    if not isinstance(handler.event, str) or not _EVENT_NAME.fullmatch(handler.event):
        raise SettingsError(f"{where}: a name of 1-64 letters, digits and _ . : -")
    if handler.event in RESERVED_EVENTS or (handler.namespace, handler.event) in taken:
        raise SettingsError(f"{where}: the name is taken")
    if not (isinstance(handler.payload, type) and issubclass(handler.payload, BaseModel)):
        raise SettingsError(f"{where}: the payload is a pydantic model class")
