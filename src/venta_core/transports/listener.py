"""Every HTTP listener of venta (gateway, ws, the worker's and the gRPC process's side ports)
is built here, with the same bounds on the request head.

uvicorn parses HTTP/1.1 with httptools (llhttp), which has no limit of its own: a header
value is accumulated until its line ends, so a client sending one endless header line makes
the process buffer all of it (eight concurrent 32 MB headers took a gateway from 160 to
500 MiB, and the allocator never gave it back). Like Envoy (``max_request_headers_kb``) and
nginx (``large_client_header_buffers``), every listener here caps:

* the request head (request line, headers and the blank line after them) at
  ``http.max_header_bytes`` bytes, and
* the number of header fields at ``http.max_headers``.

The cap is applied to the bytes *before* the parser sees them: ``data_received`` hands the
parser at most the room left in the head, and a head still incomplete when the room is used up
is answered ``431 Request Header Fields Too Large`` and the connection closed. Memory per
connection is therefore bounded by the cap, whatever the client sends. Counting costs a
subtraction per read, so throughput is unchanged (docs/performance.md).

Requests the parser refuses (a malformed request line or header) are answered ``400`` with
the JSON error envelope rather than uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from venta_core.context import new_request_id
from venta_core.errors import HeadersTooLarge, ValidationFailed, VentaError
from venta_core.settings import HttpSettings

__all__ = ["HeadLimits", "bounded_protocol", "http_config"]

log = logging.getLogger("venta.http")

#: After a refusal, how long the client's remaining bytes are read and dropped before closing.
LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """Bounds of one request head; see the module docstring."""

    max_bytes: int = 32 * 1024
    max_headers: int = 100

    @classmethod
    def of(cls, settings: HttpSettings) -> HeadLimits:
        return cls(max_bytes=settings.max_header_bytes, max_headers=settings.max_headers)


class _TooManyHeaders(Exception):
    """Raised from the parser's header callback to stop parsing at once."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (``limits``)."""

    limits = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between the end of a request and the end of the next head
        self._head_bytes = 0
        self._header_count = 0
        self._heads_completed = 0
        self._refusal: VentaError | None = None
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: what the client still sends is dropped
        if self._in_head:
            room = self.limits.max_bytes - self._head_bytes
            if len(data) >= room:
                self._feed_head_then_rest(data, room)
                return
            self._head_bytes += len(data)
        super().data_received(data)

    def _feed_head_then_rest(self, data: bytes, room: int) -> None:
        """Feed only what fits in the head; refuse when the head is still not complete.

        Bytes after the end of the head (a body, a pipelined request) are fed afterwards,
        counted afresh for the next head."""
        heads = self._heads_completed
        self._head_bytes += room
        if room > 0:
            super().data_received(data[:room])
        if (
            self._refused
            or self.transport.is_closing()
            or self.transport.get_protocol() is not self
        ):
            return  # refused, closed or upgraded to a websocket meanwhile
        if self._heads_completed == heads:
            self._refuse(self._head_too_large())
            return
        if len(data) > room:
            self.data_received(data[room:])

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = HeadersTooLarge(
                f"More than {self.limits.max_headers} header fields",
                details={"maxHeaders": self.limits.max_headers},
            )
            raise _TooManyHeaders
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_completed += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when the parser refuses the request (or a callback raised)."""
        if self._refusal is not None:
            self._refuse(self._refusal)
            return
        errors = [{"field": "request", "message": "The request line or a header is malformed"}]
        self._refuse(ValidationFailed("Malformed HTTP request", details={"errors": errors}))

    def _head_too_large(self) -> HeadersTooLarge:
        limit = self.limits.max_bytes
        return HeadersTooLarge(
            f"Request line and headers exceed {limit} bytes", details={"maxBytes": limit}
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _refuse(self, error: VentaError) -> None:
        """Answer ``error`` with the JSON envelope and close the connection.

        The close lingers (RFC 9112, section 9.6): the write side is shut at once, and what
        the client is still sending is read and dropped for up to ``LINGER_SECONDS``. Closing
        with unread data would make the kernel reset the connection, and the client could
        lose the answer before reading it."""
        self._refused = True
        request_id = new_request_id()
        envelope = {"error": {**error.to_dict(), "requestId": request_id}}
        body = json.dumps(envelope, separators=(",", ":")).encode()
        if isinstance(error, HeadersTooLarge):
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.warning("refused a request from %s: %s", client, error.message)
        head = [STATUS_LINE[error.http_status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn builds for each connection, bound to ``limits``."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


def http_config(app: Any, limits: HeadLimits, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of a venta listener serving ``app``; ``options`` are passed
    on (``timeout_graceful_shutdown``, websocket options, ...)."""
    values: dict[str, Any] = {
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        **options,
    }
    return uvicorn.Config(app, http=bounded_protocol(limits), **values)
