"""Identity port: turn a bearer token into an ``Identity``.

The built-in provider verifies HS256 development tokens (``venta token issue``). The Clerk plugin
replaces it through the ``venta_identity_provider`` hook.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt

from venta_core.domain.text import is_storable
from venta_core.domain.users import Identity
from venta_core.errors import Unauthenticated
from venta_core.settings import AuthSettings

__all__ = ["DevTokenProvider", "IdentityProvider", "VerifiedTokens"]


class IdentityProvider(Protocol):
    name: str

    async def verify(self, token: str) -> Identity:
        """Return the identity of a valid token; raise ``Unauthenticated`` otherwise."""
        ...


class DevTokenProvider:
    """HS256 tokens signed with ``auth.dev_secret``; for development, tests and demos."""

    name = "dev"

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings

    def issue(
        self, subject: str, ttl_seconds: int = 3600, claims: Mapping[str, Any] | None = None
    ) -> str:
        """A signed token for ``subject``; ``claims`` may not override the registered ones."""
        now = int(time.time())
        payload = {
            **(claims or {}),
            "sub": subject,
            "iss": self._settings.dev_issuer,
            "aud": self._settings.dev_audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
        }
        secret = self._settings.dev_secret.get_secret_value()
        return jwt.encode(payload, secret, algorithm="HS256")

    async def verify(self, token: str) -> Identity:
        if not self._settings.dev_tokens:
            raise Unauthenticated("Development tokens are disabled")
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Token expired", details={"reason": "expired"}) from None
        except jwt.PyJWTError as exc:
            reason = type(exc).__name__
            raise Unauthenticated("Invalid token", details={"reason": reason}) from None
        subject = claims.get("sub")
        # A subject the database cannot store (NUL, unpaired surrogates) names nobody.
        if (
            not isinstance(subject, str)
            or not subject
            or len(subject) > 255
            or not is_storable(subject)
        ):
            raise Unauthenticated("Invalid token", details={"reason": "bad subject"})
        return Identity(subject=subject, provider=self.name, claims=claims)

    def _accepted_secrets(self) -> list[str]:
        """The signing secret, then the one being rotated out (``dev_secret_previous``)."""
        previous = self._settings.dev_secret_previous
        secrets = [self._settings.dev_secret.get_secret_value()]
        return secrets if previous is None else [*secrets, previous.get_secret_value()]

    def _decode(self, token: str) -> dict[str, Any]:
        """The claims of ``token`` checked with the first accepted secret its signature matches;
        the last ``jwt.PyJWTError`` when none does."""
        *earlier, last = self._accepted_secrets()
        for secret in earlier:
            try:
                return self._decode_with(token, secret)
            except jwt.InvalidSignatureError:
                continue
        return self._decode_with(token, last)

    def _decode_with(self, token: str, secret: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=self._settings.dev_audience,
            issuer=self._settings.dev_issuer,
            leeway=self._settings.leeway_seconds,
            options={"require": ["exp", "sub", "iat"]},
        )
        return claims


class VerifiedTokens:
    """Tokens an ``IdentityProvider`` verified lately -> their ``Identity``, so a client sending
    the same bearer token request after request has it verified once.

    Entries are keyed by the token's signature segment and hold the whole token: a lookup hits
    only for the very token that was verified (a token with another signature, or the same
    signature under another header or payload, is not served from here). An entry is served
    until the token's ``exp`` (without the verification leeway: from then on the provider
    decides again) and at most ``ttl_seconds`` after verification; a token without a numeric
    ``exp`` is not kept. At most ``max_entries`` tokens are kept, least recently used evicted
    first. Only verification is cached: whether the subject's account still exists is checked
    by the caller on every request, as without this cache.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, float, Identity]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl_seconds > 0

    def get(self, token: str) -> Identity | None:
        """The identity of ``token`` if it was verified and has not expired since."""
        key = token.rpartition(".")[2]
        entry = self._entries.get(key)
        if entry is None:
            return None
        cached_token, until, identity = entry
        if cached_token != token:
            return None
        if self._clock() >= until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return identity

    def put(self, token: str, identity: Identity) -> None:
        """Remember that ``token`` verified as ``identity``."""
        expires = identity.claims.get("exp")
        if not self.enabled or isinstance(expires, bool) or not isinstance(expires, int | float):
            return
        until = min(float(expires), self._clock() + self.ttl_seconds)
        key = token.rpartition(".")[2]
        if not key:
            return
        self._entries[key] = (token, until, identity)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def verify(self, provider: IdentityProvider, token: str) -> Identity:
        """``provider.verify(token)``, answered from here when ``token`` was verified lately."""
        identity = self.get(token)
        if identity is None:
            identity = await provider.verify(token)
            self.put(token, identity)
        return identity

    def __len__(self) -> int:
        return len(self._entries)
