"""Clerk session tokens -> ``Identity``: RS256 only, key by ``kid`` from the instance's JWKS,
``iss`` always checked, ``aud`` and ``azp`` when configured, ``exp``/``nbf``/``iat`` with
``leeway`` seconds of clock skew."""

from __future__ import annotations

from typing import Any

import jwt
from pydantic import TypeAdapter, ValidationError
from venta_core.domain import Identity
from venta_core.errors import Unauthenticated

from venta_clerk.jwks import JwksCache
from venta_clerk.payloads import ClerkId
from venta_clerk.settings import ClerkSettings

__all__ = ["ClerkIdentityProvider"]

ALGORITHM = "RS256"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub"]
#: A subject is a Clerk user id: 1 to 255 characters (users.external_id), no control character.
_SUBJECT: TypeAdapter[str] = TypeAdapter(ClerkId)


def _refuse(reason: str) -> Unauthenticated:
    return Unauthenticated("Invalid token", details={"reason": reason})


class ClerkIdentityProvider:
    name = "clerk"

    def __init__(self, settings: ClerkSettings, jwks: JwksCache | None = None) -> None:
        if settings.issuer is None:
            raise ValueError("VENTA_CLERK_ISSUER is required to verify Clerk tokens")
        self.settings = settings
        self.issuer = settings.issuer
        self.jwks = jwks or JwksCache(
            settings.effective_jwks_url,
            ttl=settings.jwks_cache_seconds,
            min_refresh=settings.jwks_refresh_min_seconds,
            timeout=settings.jwks_timeout_seconds,
        )

    async def verify(self, token: str) -> Identity:
        kid = self._kid(token)
        key = await self.jwks.key(kid)
        claims = self._decode(token, key)
        self._check_authorized_party(claims)
        subject = claims.get("sub")
        try:
            subject = _SUBJECT.validate_python(subject, strict=True)
        except ValidationError:
            raise _refuse("bad subject") from None
        return Identity(subject=subject, provider=self.name, claims=claims)

    @staticmethod
    def _kid(token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refuse("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise _refuse("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refuse("no key id")
        return kid

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        audience = self.settings.audience
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=audience or None,
                leeway=self.settings.leeway,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": bool(audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Token expired", details={"reason": "expired"}) from None
        except jwt.PyJWTError as exc:
            raise _refuse(type(exc).__name__) from None
        return claims

    def _check_authorized_party(self, claims: dict[str, Any]) -> None:
        """``azp`` is the origin of the front end that obtained the token; Clerk leaves it
        out for native apps, so a missing ``azp`` passes unless it is required."""
        azp = claims.get("azp")
        parties = self.settings.authorized_parties
        if azp is None:
            if self.settings.require_authorized_party:
                raise _refuse("no authorized party")
            return
        if parties and azp not in parties:
            raise _refuse("authorized party not allowed")
