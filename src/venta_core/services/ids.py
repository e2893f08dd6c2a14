"""Identifier checks shared by the services."""

from __future__ import annotations

import re
import uuid

__all__ = ["canonical_uuid", "is_uuid"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """True for a canonical UUID string; ids that cannot exist are refused before any query."""
    return _UUID.fullmatch(value) is not None


def canonical_uuid(value: str) -> str | None:
    """``value`` as the lower-case, hyphenated UUID string ids are stored as (what REST paths are
    turned into, so every transport names a vendor the same way); ``None`` if it is no UUID."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None
