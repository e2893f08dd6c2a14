"""HTTP rate limits: per client IP on every route but the operational ones, and per identity on
authenticated routes, counted in the shared key-value store (fixed windows).

Both decisions of a request are kept in ``scope["state"]``; the middleware reports the tighter
one in ``X-RateLimit-*`` headers. When the key-value store fails the request is let through
(fail open: an outage of the rate-limit store must not take the API down with it, as API
gateways do). An outage of the store (``ServiceUnavailable``) is logged once by the store's
connection; any other failure here at most every ``_WARN_EVERY_SECONDS``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venta_core.errors import RateLimited, ServiceUnavailable
from venta_core.observability.client_metrics import CLIENT_METRICS
from venta_core.ports.kv import KeyValueStore, RateDecision
from venta_core.settings import RateLimitSettings
from venta_core.transports.http.errors import error_response
from venta_core.transports.http.middleware import set_headers

__all__ = [
    "EXEMPT_PATHS",
    "EXEMPT_PREFIXES",
    "RateLimitMiddleware",
    "RateLimiter",
    "client_ip",
    "raise_if_limited",
    "record_decision",
]

logger = logging.getLogger("venta.http.ratelimit")

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
#: Webhooks come from a provider's few addresses and are authenticated by signature or secret:
#: a per-IP limit would throttle the provider, not an abuser.
EXEMPT_PREFIXES = ("/v1/webhooks/", "/webhook/")
_DECISIONS = "venta_rate_decisions"
_WARN_EVERY_SECONDS = 30.0


def client_ip(scope: Scope, trust_forwarded_for: bool) -> str:
    """The socket peer, or, behind a trusted proxy, the last ``X-Forwarded-For`` address.

    The last address is the one the proxy itself appended; earlier ones are whatever the
    client sent and could be forged to dodge the limit.
    """
    if trust_forwarded_for:
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        candidate = forwarded.rsplit(",", 1)[-1].strip()
        if candidate and _is_ip(candidate):
            return candidate
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def record_decision(scope: Scope, decision: RateDecision) -> None:
    state: dict[str, Any] = scope.setdefault("state", {})
    state.setdefault(_DECISIONS, []).append(decision)


def _tightest(scope: Scope) -> RateDecision | None:
    decisions: list[RateDecision] = scope.get("state", {}).get(_DECISIONS, [])
    return min(decisions, key=lambda d: (d.allowed, d.remaining), default=None)


def _headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(max(0, decision.remaining)),
        "X-RateLimit-Reset": str(max(0, math.ceil(decision.reset_after))),
    }


class RateLimiter:
    """Counts hits in the key-value store; ``None`` means "not limited" (off, or store down)."""

    def __init__(self, kv: KeyValueStore, settings: RateLimitSettings) -> None:
        self.kv = kv
        self.settings = settings
        self._last_warning = -math.inf

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def hit_ip(self, ip: str) -> RateDecision | None:
        return await self._hit(f"ratelimit:http:ip:{ip}", self.settings.per_ip, "http_ip")

    async def hit_identity(self, subject: str) -> RateDecision | None:
        key, limit = f"ratelimit:http:id:{subject}", self.settings.per_identity
        return await self._hit(key, limit, "http_identity")

    async def _hit(self, key: str, limit: int, name: str) -> RateDecision | None:
        if not self.enabled:
            return None
        try:
            decision = await self.kv.hit(key, limit, self.settings.window_seconds)
        except ServiceUnavailable:
            return None  # fail open; the outage is logged once by the store's connection
        except Exception as exc:
            self._warn(exc)
            return None
        if not decision.allowed:
            CLIENT_METRICS.rejected(name)
        return decision

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(
                "Rate limiting skipped: key-value store failed (%s: %s)", type(exc).__name__, exc
            )


def raise_if_limited(decision: RateDecision | None) -> None:
    if decision is not None and not decision.allowed:
        raise RateLimited(math.ceil(decision.reset_after))


class RateLimitMiddleware:
    """Per-IP limit before routing, and ``X-RateLimit-*`` headers on every limited response."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, trust_forwarded_for: bool) -> None:
        self.app = app
        self.limiter = limiter
        self.trust_forwarded_for = trust_forwarded_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        exempt = path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)
        if scope["type"] != "http" or exempt or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit_ip(client_ip(scope, self.trust_forwarded_for))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                tightest = _tightest(scope)
                if tightest is not None:
                    set_headers(message, _headers(tightest))
            await send(message)

        if decision is not None:
            record_decision(scope, decision)
            if not decision.allowed:
                err = RateLimited(math.ceil(decision.reset_after))
                await error_response(err)(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)
