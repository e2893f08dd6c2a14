"""Limits of the ws role: per identity in one process, and new connections per client IP.

``IdentityLimits``: open connections, and one message window per identity. Counting per identity
rather than per connection means that opening more connections buys no more messages, and a
user cannot hold an unbounded number of sockets. The counts are local to the process (a
connection lives in one process; a shared store would cost a network round trip per message):
behind a load balancer an identity spread over N processes gets at most N times the budget,
which is bounded and small.

``ConnectRate``: new connections (Engine.IO handshakes) per client IP and minute, counted in the
key-value store, the primitive the HTTP per-IP limit uses, so every ws process shares one count
(a handshake is rare enough for the round trip). It is checked before a token is verified or a
session exists, which is what makes it a defence against connection floods. When the store
fails, connections are let through (fail open) and a warning is logged at most every 30 s.
"""

from __future__ import annotations

import logging
import math
import time

from venta_core.errors import RateLimited
from venta_core.observability.client_metrics import CLIENT_METRICS
from venta_core.ports.kv import KeyValueStore
from venta_core.transports.realtime.session import WindowLimiter

__all__ = ["ConnectRate", "IdentityLimits"]

log = logging.getLogger(__name__)

_WARN_EVERY_SECONDS = 30.0

Key = tuple[str, str]  # (namespace, user id)


class IdentityLimits:
    def __init__(
        self,
        messages_per_minute: dict[str, int],
        max_connections: int,
        window_seconds: float = 60.0,
    ) -> None:
        self._per_minute = messages_per_minute
        self._max_connections = max_connections
        self._window = window_seconds
        self._open: dict[Key, int] = {}
        self._limiters: dict[Key, WindowLimiter] = {}
        # identities without connections, oldest first: their window is kept until it ends,
        # so disconnecting and reconnecting does not start a fresh one
        self._idle: dict[Key, float] = {}

    def open(self, namespace: str, user_id: str) -> WindowLimiter:
        """One more connection of the identity; its shared limiter. Raises ``RateLimited``
        when the identity already holds ``max_connections`` here."""
        self._forget_idle()
        key = (namespace, user_id)
        count = self._open.get(key, 0)
        if count >= self._max_connections:
            CLIENT_METRICS.rejected("ws_connections_per_user")
            raise RateLimited(
                int(self._window),
                f"Too many connections: at most {self._max_connections} per user on {namespace}",
            )
        self._open[key] = count + 1
        self._idle.pop(key, None)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = WindowLimiter(
                self._per_minute[namespace], self._window, scope=f"per user on {namespace}"
            )
        return limiter

    def close(self, namespace: str, user_id: str) -> None:
        key = (namespace, user_id)
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
            return
        self._open.pop(key, None)
        self._idle[key] = time.monotonic()
        self._forget_idle()

    def connections(self, namespace: str, user_id: str) -> int:
        return self._open.get((namespace, user_id), 0)

    def _forget_idle(self) -> None:
        cutoff = time.monotonic() - self._window
        while self._idle:
            key, since = next(iter(self._idle.items()))
            if since > cutoff:
                break
            del self._idle[key]
            self._limiters.pop(key, None)


class ConnectRate:
    """New connections per client IP in a fixed one-minute window (see the module docstring)."""

    window_seconds = 60

    def __init__(self, kv: KeyValueStore, per_minute: int) -> None:
        self._kv = kv
        self._limit = per_minute
        self._last_warning = -math.inf

    async def hit(self, ip: str) -> RateLimited | None:
        """Count one connection from ``ip``; the error to refuse it with, if over the limit."""
        try:
            decision = await self._kv.hit(f"ratelimit:ws:connect:{ip}", self._limit, 60)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning(
                    "Socket.IO connect limit skipped: key-value store failed (%s: %s)",
                    *(type(exc).__name__, exc),
                )
            return None
        if decision.allowed:
            return None
        CLIENT_METRICS.rejected("ws_connect_ip")
        return RateLimited(
            max(1, math.ceil(decision.reset_after)),
            f"More than {self._limit} new connections per minute from this address",
        )
