"""Authentication at connect: the token is verified by the identity provider (the same one the
HTTP gateway uses), never trusted as an id. Refusals reach the client as ``connect_error``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from socketio.exceptions import ConnectionRefusedError as SioConnectionRefused

__all__ = ["Refused", "token_from"]


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
