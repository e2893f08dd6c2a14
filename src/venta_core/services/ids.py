"""Identifier checks shared by the services."""

from __future__ import annotations

import re

__all__ = ["is_uuid"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """True for a canonical UUID string; ids that cannot exist are refused before any query."""
    return _UUID.fullmatch(value) is not None
