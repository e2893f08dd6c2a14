"""The request context: one contextvar read and written by every transport and the logger."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

__all__ = ["RequestContext", "current", "new_request_id", "request_context", "sanitize_request_id"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    identity: str | None = None  # external identity (token subject)
    user_id: str | None = None  # internal user id once resolved

    def with_user(self, identity: str, user_id: str) -> RequestContext:
        return replace(self, identity=identity, user_id=user_id)


_current: ContextVar[RequestContext | None] = ContextVar("venta_request_context", default=None)


def new_request_id() -> str:
    return str(uuid.uuid4())


def sanitize_request_id(value: str | None) -> str:
    """Keep a caller's request id if it is a sane token, else make a new one."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


def current() -> RequestContext | None:
    return _current.get()


def set_current(ctx: RequestContext) -> None:
    _current.set(ctx)


@contextmanager
def request_context(ctx: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
