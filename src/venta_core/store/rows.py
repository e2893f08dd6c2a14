"""Helpers shared by the row mappers."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware"]


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
