"""The age of the oldest outbox row not relayed yet: how late the relay is, in time rather than
rows (``venta_outbox_oldest_pending_age_seconds``, read by the worker at each scrape)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from venta_core.store.engine import Database
from venta_core.store.tables import outbox

__all__ = ["oldest_pending_age"]


async def oldest_pending_age(db: Database, *, now: datetime | None = None) -> float:
    """Seconds since the oldest pending row was written; 0 when none is pending."""
    async with db.connect() as conn:
        oldest: datetime | None = await conn.scalar(
            sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
        )
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite keeps no zone; venta writes UTC
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds())
