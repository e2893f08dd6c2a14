"""Authentication at connect: the token is verified by the identity provider (the same one the
HTTP gateway uses), never trusted as an id. Refusals reach the client as ``connect_error``.

A connection outlives its connect, so the gateway keeps the token's expiry (``expiry_from``) and
ends the session when it passes. JWT libraries accept ``exp`` as a number or as a string of
digits (PyJWT reads it with ``int()``), so both count; a token whose ``exp`` cannot be read as a
time is refused rather than trusted forever.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from socketio.exceptions import ConnectionRefusedError as SioConnectionRefused

from venta_core.errors import Unauthenticated

__all__ = ["Refused", "expiry_from", "token_from"]


class Refused(SioConnectionRefused):  # type: ignore[misc]  # socketio ships no type hints
    """A refused connection: the client's ``connect_error`` carries ``message`` and
    ``data: {code, message}`` (and ``code`` at the top, for clients that read it there)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error_args = {
            "message": message,
            "code": code,
            "data": {"code": code, "message": message},
        }


def token_from(environ: dict[str, Any], auth: Any) -> str | None:
    """The bearer token: ``auth.token``, else ``Authorization: Bearer``, else ``?token=``."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            return token.strip().removeprefix("Bearer ").strip()
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    values = query.get("token")
    if values and values[0].strip():
        return values[0].strip()
    return None


def expiry_from(claims: Mapping[str, Any]) -> float | None:
    """The token's ``exp`` as POSIX seconds (a number, or a numeric string), ``None`` without
    one; ``Unauthenticated`` when it is there but is no finite time."""
    exp = claims.get("exp")
    if exp is None:
        return None
    value: float | None = None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        value = float(exp)
    elif isinstance(exp, str):
        try:
            value = float(exp.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise Unauthenticated("The token's exp claim is not a time", details={"reason": "exp"})
    return value
