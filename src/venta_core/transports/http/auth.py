"""Bearer authentication: token -> identity (identity provider) -> user (user service).

Both steps are cached in process: a verified token until it expires (``VerifiedTokens``), and
the subject -> user step for ``auth.identity_cache_seconds`` (it costs a database round trip,
an upsert on first sight). Deleted users are dropped from the second cache at once, so a
remembered token of a deleted account still gets 401.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from venta_core.context import current, set_current
from venta_core.domain import User
from venta_core.errors import AccountDeleted, Unauthenticated
from venta_core.ports.identity import VerifiedTokens
from venta_core.transports import VentaApp
from venta_core.transports.http.ratelimit import RateLimiter, raise_if_limited, record_decision

__all__ = [
    "IdentityCache",
    "authenticate",
    "bearer_scheme",
    "bearer_token",
    "forget_deleted_caller",
]

_CALLER = "venta_caller"

#: The scheme the OpenAPI document declares for authenticated routes.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <token>`; development tokens: `venta token issue`.",
)


class IdentityCache:
    """Token subject -> ``User``, for ``ttl_seconds``, least recently used evicted first.

    ``discard(subject, user_id)`` forgets a deleted user at once and remembers their id (ids
    are never reused): a lookup that was already running when the deletion arrived cannot put
    the user back, and ``is_deleted`` lets its caller refuse it.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()
        self._deleted: OrderedDict[str, None] = OrderedDict()

    def get(self, subject: str) -> User | None:
        entry = self._entries.get(subject)
        if entry is None:
            return None
        expires, user = entry
        if time.monotonic() >= expires:
            del self._entries[subject]
            return None
        self._entries.move_to_end(subject)
        return user

    def put(self, subject: str, user: User) -> None:
        if self.ttl_seconds <= 0 or user.id in self._deleted:
            return
        self._entries[subject] = (time.monotonic() + self.ttl_seconds, user)
        self._entries.move_to_end(subject)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, subject: str, user_id: str | None = None) -> None:
        """Forget ``subject`` at once; with ``user_id``, that user was deleted."""
        self._entries.pop(subject, None)
        if user_id:
            self._deleted[user_id] = None
            while len(self._deleted) > self.max_entries:
                self._deleted.popitem(last=False)

    def is_deleted(self, user_id: str) -> bool:
        """``True`` for a user id discarded as deleted (the newest ``max_entries``)."""
        return user_id in self._deleted

    def __len__(self) -> int:
        return len(self._entries)


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case), else ``None``:
    what ``bearer_scheme`` answers, read without a dependency of its own."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if not (scheme and token) or scheme.lower() != "bearer":
        return None
    return token


async def authenticate(request: Request) -> User:
    """The calling user. Raises ``Unauthenticated`` (401) or ``RateLimited`` (429).

    The token is read here, not through a ``bearer_scheme`` sub-dependency: FastAPI resolves
    every dependency node anew on each request, and this one runs on nearly every route. The
    OpenAPI document still names the scheme on each route that depends on this
    (``app_factory``). The user is kept in ``scope["state"]``, so the other dependencies that
    need the caller (``deps.current_actor``) call this instead of being nodes above it."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known: User | None = state.get(_CALLER)
    if known is not None:
        return known
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("A bearer token is required (Authorization: Bearer <token>)")
    venta: VentaApp = request.app.state.venta
    tokens: VerifiedTokens = request.app.state.verified_tokens
    identity = await tokens.verify(venta.identity, token)
    # Counted only after verification, so forged tokens cannot spend someone's allowance.
    limiter: RateLimiter = request.app.state.rate_limiter
    decision = await limiter.hit_identity(identity.subject)
    if decision is not None:
        record_decision(request.scope, decision)
    raise_if_limited(decision)
    user = await _user_for(request, venta, identity.subject)
    ctx = current()
    if ctx is not None:
        set_current(ctx.with_user(identity.subject, user.id))
    state[_CALLER] = user
    return user


async def _user_for(request: Request, venta: VentaApp, subject: str) -> User:
    cache: IdentityCache = request.app.state.identity_cache
    user = cache.get(subject)
    if user is None:
        user = await venta.users.ensure_user(subject)
        if cache.is_deleted(user.id):  # deleted while it was being looked up
            raise AccountDeleted()
        cache.put(subject, user)
    return user


def forget_deleted_caller(request: Request, user: User) -> None:
    """The caller's user row is gone: users are only deleted with their identity, so the
    cached identity is dropped before the deletion event would drop it."""
    cache: IdentityCache = request.app.state.identity_cache
    cache.discard(user.external_id, user.id)
