"""The edge of the Socket.IO server: what is refused before python-socketio sees it, and how a
connection that breaks the protocol ends.

python-socketio implements the protocol; where it meets input it cannot handle, it logs a
traceback per frame or hangs:

- an Engine.IO packet that does not decode (empty, not a number, an unknown type) raises out
  of python-engineio's websocket loop, or is logged with a traceback and ignored;
- a Socket.IO packet that does not decode, or an event that is not ``[name, ...]``, is logged
  with a traceback and ignored (``protocol.StrictPacket`` applies the reference parser's rules);
- a long-polling POST above ``max_payload_bytes`` makes python-engineio close the session and
  wait for the client to read the CLOSE packet, so the request is never answered and its task
  stays until shutdown; a POST without ``Content-Length`` is silently dropped.

The reference server (socket.io on Node) closes a connection that sends something it cannot
parse ("parse error"), and so does venta: the connection is logged once, at WARNING, without a
traceback, and its Engine.IO session ends at once (``end_session``): its handlers run, and a
client on a websocket sees it close, one on long-polling gets the CLOSE packet or a 400. A
too large POST is answered ``413 PAYLOAD_TOO_LARGE`` without being read, and ends the session.

New connections are counted per client IP (``limits.ConnectRate``) at the Engine.IO handshake,
the request without a ``sid``: past the limit the handshake is answered ``429 RATE_LIMITED``
with ``Retry-After`` before any session exists, on long-polling and websocket alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import engineio
import socketio
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venta_core.errors import PayloadTooLarge, ValidationFailed, VentaError
from venta_core.transports.http.errors import error_response
from venta_core.transports.http.middleware import replay_body
from venta_core.transports.http.ratelimit import client_ip
from venta_core.transports.realtime.limits import ConnectRate

__all__ = [
    "SocketIOEdge",
    "end_session",
    "engineio_problem",
    "guard_messages",
    "payload_problem",
]

log = logging.getLogger(__name__)

#: What decoding and dispatching a malformed packet raises inside python-socketio.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)
#: Websocket close code for a protocol error (RFC 6455).
_PROTOCOL_ERROR = 1002


def _reason(exc: BaseException) -> str:
    """A short reason for the log: the exception, never the frame itself."""
    return f"{type(exc).__name__}: {exc}"[:120]


def _known_type(pkt: Any) -> bool:
    return isinstance(pkt.packet_type, int) and 0 <= pkt.packet_type < len(eio_packet.packet_names)


def engineio_problem(frame: str | bytes) -> str | None:
    """Why a websocket frame is no Engine.IO packet python-engineio can take, or ``None``.
    Binary frames are binary messages (attachments), left to Socket.IO."""
    if isinstance(frame, bytes):
        return None
    try:
        pkt = eio_packet.Packet(encoded_packet=frame)
    except _DECODE_ERRORS as exc:  # empty, not a number, bad base64
        return _reason(exc)
    return None if _known_type(pkt) else f"unknown Engine.IO packet type {pkt.packet_type}"


def payload_problem(body: bytes) -> str | None:
    """Why a long-polling POST body is no Engine.IO payload python-engineio can take."""
    try:
        packets = eio_payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except _DECODE_ERRORS as exc:  # not UTF-8, a bad packet, more than 16 packets
        return _reason(exc)
    for pkt in packets:
        if not _known_type(pkt):
            return f"unknown Engine.IO packet type {pkt.packet_type}"
    return None


async def end_session(eio: engineio.AsyncServer, sid: str) -> bool:
    """End Engine.IO session ``sid`` now, without waiting for its client; False if it was gone.

    python-engineio's own ``disconnect`` waits until the client has read the CLOSE packet, which
    a long-polling client that stopped polling never does. Here the CLOSE packet is queued, the
    disconnect handlers run, and the session's writer (websocket) or pending poll (long-polling)
    is released at once. Relies on python-engineio's ``sockets`` map and socket ``queue``.
    """
    socket = eio.sockets.pop(sid, None)
    if socket is None:
        return False
    await socket.close(wait=False, abort=False, reason=eio.reason.SERVER_DISCONNECT)
    socket.queue.put_nowait(None)
    return True


def guard_messages(sio: socketio.AsyncServer) -> None:
    """Make a Socket.IO packet that python-socketio cannot decode or dispatch end its
    connection (logged once) instead of logging a traceback per frame."""
    eio = sio.eio
    handle = eio.handlers["message"]

    async def message(eio_sid: str, data: Any) -> None:
        try:
            await handle(eio_sid, data)
        except _DECODE_ERRORS as exc:
            if await end_session(eio, eio_sid):
                log.warning(
                    "closed Socket.IO connection %s: malformed Socket.IO packet (%s)",
                    eio_sid,
                    _reason(exc),
                )

    eio.on("message", message)


def _query(scope: Scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SocketIOEdge:
    """ASGI middleware in front of python-socketio's app (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        eio: engineio.AsyncServer,
        max_payload_bytes: int,
        connects: ConnectRate | None,
        trust_forwarded_for: bool,
        on_refused: Callable[[VentaError], None] = lambda _: None,
        path: str = "/socket.io/",
    ) -> None:
        self.app = app
        self.eio = eio
        self.max_payload_bytes = max_payload_bytes
        self.connects = connects
        self.trust_forwarded_for = trust_forwarded_for
        self.on_refused = on_refused
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not (path + "/").startswith(self.path):
            await self.app(scope, receive, send)
            return
        sids = _query(scope).get("sid")
        sid = sids[0] if sids else None
        handshake = sid is None and (scope["type"] == "websocket" or scope.get("method") == "GET")
        if handshake and await self._refused(scope, receive, send):  # a new connection
            return
        if scope["type"] == "websocket":
            await self.app(scope, self._checked(scope, receive, send), send)
        elif scope.get("method") == "POST" and sid is not None:
            await self._post(scope, receive, send, sid)
        else:
            await self.app(scope, receive, send)

    # -- new connections -----------------------------------------------------------------------

    async def _refused(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if self.connects is None:
            return False
        error = await self.connects.hit(client_ip(scope, self.trust_forwarded_for))
        if error is None:
            return False
        self.on_refused(error)
        await _answer(scope, receive, send, error_response(error))
        return True

    # -- websocket frames ----------------------------------------------------------------------

    def _checked(self, scope: Scope, receive: Receive, send: Send) -> Receive:
        """``receive`` that turns the first malformed Engine.IO frame into a closed connection."""

        async def receive_() -> Message:
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            text = message.get("text")
            problem = engineio_problem(text if text is not None else message.get("bytes") or b"")
            if problem is None:
                return message
            log.warning(
                "closed Socket.IO connection from %s: malformed Engine.IO packet (%s)",
                client_ip(scope, self.trust_forwarded_for),
                problem,
            )
            await send({"type": "websocket.close", "code": _PROTOCOL_ERROR})
            return {"type": "websocket.disconnect", "code": _PROTOCOL_ERROR}

        return receive_

    # -- long-polling POSTs --------------------------------------------------------------------

    async def _post(self, scope: Scope, receive: Receive, send: Send, sid: str) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_payload_bytes:
            await self._reject(scope, receive, send, sid, self._too_large(declared))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_payload_bytes:
                await self._reject(scope, receive, send, sid, self._too_large(len(body)))
                return
            if not message.get("more_body", False):
                break
        problem = payload_problem(bytes(body))
        if problem is not None:
            malformed = ValidationFailed(f"Malformed Engine.IO payload ({problem})")
            await self._reject(scope, receive, send, sid, malformed)
            return
        await self.app(_with_length(scope, len(body)), replay_body(bytes(body), receive), send)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"A long-polling request may carry at most {self.max_payload_bytes} bytes",
            details={"maxBytes": self.max_payload_bytes, "size": size},
        )

    async def _reject(
        self, scope: Scope, receive: Receive, send: Send, sid: str, error: VentaError
    ) -> None:
        """Answer ``error`` at once and end the session the request belongs to."""
        await _answer(scope, receive, send, error_response(error))
        if await end_session(self.eio, sid):
            log.warning("closed Socket.IO connection %s: %s", sid, error.message)


async def _answer(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """``response`` on an HTTP request, or instead of the handshake of a websocket (the ASGI
    websocket HTTP response extension; a server without it closes the websocket)."""
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    start = {"status": response.status_code, "headers": response.raw_headers}
    await send({"type": "websocket.http.response.start", **start})
    await send({"type": "websocket.http.response.body", "body": response.body})


def _with_length(scope: Scope, length: int) -> Scope:
    """``scope`` declaring the body's real length: python-engineio reads ``Content-Length``
    bytes and would drop a chunked body."""
    headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}
