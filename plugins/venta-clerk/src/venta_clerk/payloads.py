"""The parts of a Clerk webhook body venta reads, validated before anything is applied.

A body that is signed but does not fit (not JSON, nested deeper than the parser allows, a user
event without a usable ``data.id``) is answered ``400 VALIDATION_ERROR`` and changes nothing.
Ids must fit the database (``users.external_id`` holds 255 characters) and hold no control
characters or unpaired surrogates: PostgreSQL refuses NUL and invalid UTF-8 in text, and no
Clerk id contains either.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError
from venta_core.errors import ValidationFailed

__all__ = ["USER_EVENTS", "ClerkEvent", "ClerkId", "parse_event", "plain_text"]

USER_EVENTS = frozenset({"user.created", "user.updated", "user.deleted"})
#: Errors listed in a refusal's ``details.errors``.
_MAX_LISTED = 5


def plain_text(value: str) -> str:
    """``value`` when it holds no control character (NUL included) and is valid UTF-8 (no
    unpaired surrogate); else ``ValueError``."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8") from None
    return value


#: A Clerk id (user id, svix delivery id): 1 to 255 characters of plain text (``plain_text``).
ClerkId = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(plain_text)
]


class ClerkEvent(BaseModel):
    """``{"type": ..., "data": {...}, ...}``; other fields are kept, unused."""

    model_config = ConfigDict(extra="allow")

    type: Annotated[str, StringConstraints(max_length=255), AfterValidator(plain_text)]
    data: dict[str, Any]


class _UserData(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: ClerkId


def parse_event(body: bytes) -> tuple[ClerkEvent, str | None]:
    """The event of a signed body, with its Clerk user id for a user event (else ``None``).

    Parsed by pydantic straight from the bytes: its JSON parser refuses nesting deeper than it
    supports with a validation error, where ``json.loads`` would raise ``RecursionError``.
    Raises ``ValidationFailed``.
    """
    try:
        event = ClerkEvent.model_validate_json(body)
    except ValidationError as exc:
        raise _refusal(exc) from None
    if event.type not in USER_EVENTS:
        return event, None
    try:
        return event, _UserData.model_validate(event.data).id
    except ValidationError as exc:
        raise _refusal(exc, within="data") from None


def _refusal(exc: ValidationError, within: str | None = None) -> ValidationFailed:
    fields = []
    for error in exc.errors()[:_MAX_LISTED]:
        path = [within] if within else []
        path += [str(part) for part in error["loc"]]
        fields.append(".".join(path) or "body")
    errors = [{"field": field, "message": "invalid or missing"} for field in fields]
    return ValidationFailed("Not a Clerk event", details={"errors": errors})
