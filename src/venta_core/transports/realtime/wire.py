"""Direct websocket writes: the fan-out's way around the per-client Engine.IO queue.

python-socketio sends every packet through a per-client queue drained by a per-client task, and
its room emit starts one task per recipient: correct, but most of a broadcast's time goes there.
``WireRegistry`` wraps the Engine.IO ASGI app and remembers, for each Engine.IO session on a
websocket, the connection's asyncio transport, so the fan-out can write one pre-built frame to
every watcher with a single ``transport.write`` each.

The registry learns the Engine.IO session id from the protocol itself, not from library
internals: a websocket opened directly (``transport=websocket``) receives the open packet
``0{"sid": ...}`` as its first message; an upgrade from long-polling carries ``sid`` in its query
string and is usable once the client's UPGRADE packet ``5`` has arrived.

Raw writes are only used where they are byte-for-byte what the server would send: uvicorn's
websocket protocols without a negotiated extension (the runner turns per-message deflate off;
deflate would make every client's frame different). Anywhere else ``transport`` stays ``None``
and the gateway falls back to python-socketio's own queue.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WireRegistry", "WireSocket", "raw_transport"]

log = logging.getLogger(__name__)

_UVICORN_WS = ("WebSocketsSansIOProtocol", "WebSocketProtocol")


def raw_transport(send: Any) -> Any:
    """The asyncio transport under uvicorn's ASGI ``send`` of a websocket, when writing raw
    frames to it is safe (no websocket extension negotiated); else ``None``."""
    proto = getattr(send, "__self__", None)
    if proto is None or type(proto).__name__ not in _UVICORN_WS:
        return None
    if not type(proto).__module__.startswith("uvicorn.protocols.websockets"):
        return None
    conn = getattr(proto, "conn", proto)  # sans-I/O keeps the websockets protocol in .conn
    if getattr(conn, "extensions", None):
        return None
    transport = getattr(proto, "transport", None)
    if transport is None or not hasattr(transport, "get_write_buffer_size"):
        return None
    return transport


class WireSocket:
    """One websocket of one Engine.IO session."""

    __slots__ = ("_raw", "eio_sid", "is_upgrade", "ready", "transport")

    def __init__(self, raw: Any, eio_sid: str | None) -> None:
        self._raw = raw
        self.eio_sid = eio_sid
        self.is_upgrade = eio_sid is not None
        #: True once the client reads this websocket (open packet sent, or upgrade completed)
        self.ready = False
        #: what the fan-out writes frames to; ``None`` until ready, and again once closed
        self.transport: Any = None

    def activate(self) -> None:
        self.ready = True
        self.transport = self._raw

    def close(self) -> None:
        self.ready = False
        self.transport = self._raw = None


class WireRegistry:
    """Engine.IO session id -> its websocket; see the module docstring."""

    def __init__(self, path: str = "/socket.io/") -> None:
        self.path = path
        self._by_sid: dict[str, WireSocket] = {}

    def get(self, eio_sid: str) -> WireSocket | None:
        return self._by_sid.get(eio_sid)

    def __len__(self) -> int:
        return len(self._by_sid)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` (python-socketio's ASGI app) with websocket sessions recorded."""

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "websocket" or not scope["path"].startswith(self.path):
                await app(scope, receive, send)
                return
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            sid = (query.get("sid") or [None])[0]
            wire = WireSocket(raw_transport(send), sid)
            if sid is not None and sid not in self._by_sid:
                self._by_sid[sid] = wire

            async def send_(message: Message) -> None:
                if wire.eio_sid is None and message["type"] == "websocket.send":
                    self._learn_sid(wire, message.get("text"))
                await send(message)

            async def receive_() -> Message:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    if wire.is_upgrade and not wire.ready and message.get("text") == "5":
                        wire.activate()
                elif kind == "websocket.disconnect":
                    self._forget(wire)
                return message

            try:
                await app(scope, receive_, send_)
            finally:
                self._forget(wire)

        return asgi

    def _learn_sid(self, wire: WireSocket, text: str | None) -> None:
        if not text or not text.startswith("0{"):
            return
        try:
            sid = json.loads(text[1:]).get("sid")
        except ValueError:
            return
        if isinstance(sid, str) and sid not in self._by_sid:
            wire.eio_sid = sid
            self._by_sid[sid] = wire
            wire.activate()

    def _forget(self, wire: WireSocket) -> None:
        sid = wire.eio_sid
        if sid is not None and self._by_sid.get(sid) is wire:
            del self._by_sid[sid]
        wire.close()
