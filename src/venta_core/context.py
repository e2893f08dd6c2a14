"""The request context: one contextvar read and written by every transport and the logger."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType

__all__ = ["RequestContext", "current", "new_request_id", "request_context", "sanitize_request_id"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    identity: str | None = None  # external identity (token subject)
    user_id: str | None = None  # internal user id once resolved

    def with_user(self, identity: str, user_id: str) -> RequestContext:
        return RequestContext(self.request_id, identity, user_id)


_current: ContextVar[RequestContext | None] = ContextVar("venta_request_context", default=None)


def new_request_id() -> str:
    """A random (version 4) UUID as ``str(uuid.uuid4())`` writes it, without building a
    ``UUID`` object: one is made for every request that comes without an id."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def sanitize_request_id(value: str | None) -> str:
    """Keep a caller's request id if it is a sane token, else make a new one."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


def current() -> RequestContext | None:
    return _current.get()


def set_current(ctx: RequestContext) -> None:
    _current.set(ctx)


class request_context:
    """``with request_context(ctx):`` makes ``ctx`` current inside the block. A class, not a
    generator-based context manager: it is entered on every request."""

    __slots__ = ("_ctx", "_token")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._token: Token[RequestContext | None] | None = None

    def __enter__(self) -> RequestContext:
        self._token = _current.set(self._ctx)
        return self._ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        _current.reset(self._token)
