"""Connection state recovery: a client that lost its connection gets its session back.

Socket.IO v4 clients (the official ``socket.io-client`` since 4.6, and others following it)
recover a session this way: the server's CONNECT packet carries, besides the public ``sid``, a
private session id ``pid``; when the connection drops and the client reconnects, it sends that
``pid`` (and an ``offset``, the last argument of the last event it got, when events carry one)
in its CONNECT payload; a server that still has the session answers with the same ``sid`` and
``pid``, and the client sets ``socket.recovered``. python-socketio does not implement this, so
the gateway does it at the protocol edge:

- ``RecoveringServer`` (python-socketio's ``AsyncServer``) adds ``pid`` to every CONNECT it
  sends, and notes the ``pid`` a reconnecting client offers before the connection is set up;
- ``RecoveringManager`` gives such a connection its old ``sid`` back;
- the gateway keeps, for every connection that dropped (transport closed or ping timeout: not
  one the client or the server ended on purpose), a ``Saved`` record in the key-value store
  for ``VENTA_REALTIME__RECOVERY_SECONDS``: Redis when configured, so a client recovers on
  whichever ws process it reconnects to. A reconnect with that ``pid``, authenticated as the
  same user, takes the record (once: the key is deleted) and restores the session.

What a recovered session gets back: on ``/user`` its viewport, watched again at once, and what
changed while it was away as the latest state per vendor: ``vendor_sync`` for every vendor now
in view (with its pin fields when the client did not know it), ``vendor_left`` for every
vendor it knew that is no longer in view. The server cannot tell which of the frames written
just before a drop were lost with the connection, so it does not trust its own idea of what
the client last saw: it sends the current state of every vendor in view (bounded by
``VENTA_LOCATION__MAX_LIMIT``), and ``vendor_left`` for each vendor the client may still show
(those in view at the drop, and those recently told to leave). Both are idempotent on the
client. Events carry no ``offset``, so other clients' handlers see exactly the contract's
arguments. On ``/vendor`` the session's vendors stay held (presence) by the new connection.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError
from socketio import packet as sio_packet

from venta_core.errors import ServiceUnavailable
from venta_core.ports.kv import KeyValueStore

__all__ = ["Offer", "RecoveringManager", "RecoveringServer", "RecoveryStore", "Saved", "new_pid"]

log = logging.getLogger(__name__)

#: Disconnect reasons after which a session is kept for recovery (the connection was lost, not
#: ended by the client or the server).
RECOVERABLE = frozenset({"transport close", "transport error", "ping timeout"})
#: Most vendors remembered per session as "told to leave" (the oldest are forgotten first).
MAX_LEFT = 256


def new_pid() -> str:
    return secrets.token_urlsafe(16)


class Saved(BaseModel):
    """A dropped session, as kept for recovery."""

    sid: str
    namespace: str
    user_id: str
    #: /user: the viewport (south, west, north, east) and the vendors the client may show
    view: tuple[float, float, float, float] | None = None
    known: list[str] = []
    #: /vendor: the vendors the connection published
    vendors: list[str] = []
    default_vendor: str | None = None


class Offer:
    """A reconnecting client's ``pid`` with the record it names (not taken yet)."""

    __slots__ = ("pid", "saved")

    def __init__(self, pid: str, saved: Saved) -> None:
        self.pid = pid
        self.saved = saved


class RecoveryStore:
    """Dropped sessions in the key-value store, by ``pid``, for ``window_seconds``. When the
    store fails the client simply gets a fresh session: an outage (``ServiceUnavailable``) is
    logged once by the store's connection, anything else here."""

    def __init__(self, kv: KeyValueStore, window_seconds: float) -> None:
        self._kv = kv
        self.window = window_seconds

    @staticmethod
    def _key(pid: str) -> str:
        return f"ws:recovery:{pid}"

    async def save(self, pid: str, saved: Saved) -> None:
        try:
            await self._kv.set(self._key(pid), saved.model_dump_json(), self.window)
        except ServiceUnavailable:
            pass
        except Exception as exc:  # the client gets a fresh session: what it would without
            log.warning("keeping a dropped session failed (%s)", type(exc).__name__)

    async def peek(self, pid: str) -> Saved | None:
        try:
            raw = await self._kv.get(self._key(pid))
        except ServiceUnavailable:
            return None
        except Exception as exc:
            log.warning("reading a dropped session failed (%s)", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return Saved.model_validate_json(raw)
        except ValidationError:
            return None

    async def take(self, pid: str) -> bool:
        """Claim the record: True for exactly one caller while it exists."""
        try:
            return await self._kv.delete(self._key(pid))
        except ServiceUnavailable:
            return False
        except Exception as exc:
            log.warning("taking a dropped session failed (%s)", type(exc).__name__)
            return False


class RecoveringServer(socketio.AsyncServer):  # type: ignore[misc]  # no type hints upstream
    """python-socketio's server with the ``pid`` of connection state recovery.

    Relies on two internals of python-socketio, guarded by tests/realtime/test_recovery.py:
    ``_handle_connect(eio_sid, namespace, auth)`` and ``_send_packet(eio_sid, packet)``."""

    def __init__(
        self,
        *args: Any,
        store: RecoveryStore | None,
        pid_of: Callable[[str, str], str | None],
        connected: Callable[[str, str], Awaitable[None]],
        **kwargs: Any,
    ) -> None:
        """``store``: where dropped sessions are (``None``: recovery off); ``pid_of(namespace,
        sid)``: the ``pid`` to announce; ``connected(namespace, sid)``: runs once the client
        has its CONNECT."""
        super().__init__(*args, client_manager=RecoveringManager(), **kwargs)
        self.recovery = store
        self._pid_of = pid_of
        self._connected = connected
        self.offers: dict[tuple[str, str], Offer] = {}

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        ns = namespace or "/"
        key = (eio_sid, ns)
        pid = data.get("pid") if isinstance(data, dict) else None
        if self.recovery is not None and isinstance(pid, str) and 0 < len(pid) <= 64:
            saved = await self.recovery.peek(pid)
            if saved is not None and saved.namespace == ns:
                self.offers[key] = Offer(pid, saved)
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        finally:
            self.offers.pop(key, None)
        sid = self.manager.sid_from_eio_sid(eio_sid, ns)
        if sid is not None and self.manager.is_connected(sid, ns):
            await self._connected(ns, sid)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if (
            self.recovery is not None
            and pkt.packet_type == sio_packet.CONNECT
            and isinstance(pkt.data, dict)
            and isinstance(pkt.data.get("sid"), str)
        ):
            pid = self._pid_of(pkt.namespace or "/", pkt.data["sid"])
            if pid is not None:
                pkt.data = {**pkt.data, "pid": pid}
        await super()._send_packet(eio_sid, pkt)


class RecoveringManager(socketio.AsyncManager):  # type: ignore[misc]
    """Gives a recovering connection its old ``sid`` (python-socketio draws a new one)."""

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        offers: dict[tuple[str, str], Offer] = getattr(self.server, "offers", {})
        offer = offers.get((eio_sid, namespace))
        sid = offer.saved.sid if offer is not None else None
        if sid is None or sid in self.rooms.get(namespace, {}).get(None, {}):
            result: str | None = await super().pre_connect(eio_sid, namespace)
            return result
        # python-socketio's pre_connect, with the recovered sid
        self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid
