"""Clerk's signing keys: fetched over HTTP (async), cached, refetched on rotation.

- Keys are used for ``ttl`` seconds, then refetched on the next verification.
- A token signed with a ``kid`` the cache does not know (Clerk rotated its keys) causes one
  refetch, at most every ``min_refresh`` seconds whatever the ``kid``s presented: random
  ``kid``s in forged tokens cannot make venta hammer Clerk.
- When a refetch fails, the keys already known stay in use (and a warning is logged); with
  no keys at all verification answers 503 SERVICE_UNAVAILABLE, not 401, because the token may
  well be valid.
- One fetch at a time: concurrent requests wait for the fetch in progress.
- Every fetch is counted in ``venta_jwks_fetches_total{provider="clerk", outcome}`` (``ok``,
  ``error``: unreachable, timed out or not a 200; ``invalid``: not a usable key set) and timed
  in ``venta_jwks_fetch_duration_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

import httpx
import jwt
from venta_core.errors import ServiceUnavailable, Unauthenticated
from venta_core.observability.client_metrics import CLIENT_METRICS

__all__ = ["JwksCache"]

log = logging.getLogger("venta.clerk.jwks")

_MAX_JWKS_BYTES = 256 * 1024
_PROVIDER = "clerk"


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        ttl: float = 3600.0,
        min_refresh: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self._clock = clock
        self._transport = transport
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK:
        """The signing key ``kid``. Raises ``Unauthenticated`` (unknown key) or
        ``ServiceUnavailable`` (no keys could be fetched)."""
        if self._keys is None or self._clock() - self._fetched_at >= self.ttl:
            await self._refresh(self._attempted_at, min_gap=self.min_refresh if self._keys else 0)
        found = self._find(kid)
        if found is None:
            await self._refresh(self._attempted_at, min_gap=self.min_refresh)
            found = self._find(kid)
        if found is None:
            if self._keys is None:
                raise ServiceUnavailable("Clerk signing keys are unavailable")
            raise Unauthenticated("Invalid token", details={"reason": "unknown signing key"})
        return found

    def _find(self, kid: str) -> jwt.PyJWK | None:
        if self._keys is None:
            return None
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        return None

    async def _refresh(self, seen_attempt: float, *, min_gap: float) -> None:
        async with self._lock:
            if self._attempted_at != seen_attempt:
                return  # another request fetched while this one waited
            now = self._clock()
            if now - self._attempted_at < min_gap:
                return
            self._attempted_at = now
            start = time.perf_counter()
            try:
                keys = await self._fetch()
            except Exception as exc:
                CLIENT_METRICS.jwks_fetched(_PROVIDER, _outcome(exc), time.perf_counter() - start)
                log.warning("JWKS fetch from %s failed: %s: %s", self.url, type(exc).__name__, exc)
                return
            CLIENT_METRICS.jwks_fetched(_PROVIDER, "ok", time.perf_counter() - start)
            self._keys, self._fetched_at = keys, self._clock()

    async def _fetch(self) -> jwt.PyJWKSet:
        self.fetches += 1
        async with httpx.AsyncClient(
            timeout=self.timeout, transport=self._transport, follow_redirects=False
        ) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        keys = jwt.PyJWKSet.from_dict(response.json())
        rsa = [k for k in keys.keys if k.key_type == "RSA" and k.key_id]
        if not rsa:
            raise ValueError("JWKS has no RSA key with a kid")
        keys.keys = rsa
        return keys


def _outcome(exc: Exception) -> str:
    """``error`` when Clerk could not be reached or did not answer 200, ``invalid`` when its
    answer was no usable key set."""
    return "error" if isinstance(exc, httpx.HTTPError | OSError | TimeoutError) else "invalid"
