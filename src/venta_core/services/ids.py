"""Identifier checks shared by the services."""

from __future__ import annotations

import uuid

__all__ = ["is_uuid"]


def is_uuid(value: str) -> bool:
    """True for a canonical UUID string; ids that cannot exist are refused before any query."""
    if len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
