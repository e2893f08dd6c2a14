"""Identity port: turn a bearer token into an ``Identity``.

The built-in provider verifies HS256 development tokens (``venta token issue``). The Clerk plugin
replaces it through the ``venta_identity_provider`` hook.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

import jwt

from venta_core.domain.text import is_storable
from venta_core.domain.users import Identity
from venta_core.errors import Unauthenticated
from venta_core.settings import AuthSettings

__all__ = ["DevTokenProvider", "IdentityProvider"]


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
