"""SQL behind webhook idempotency and ordering; every function runs in the caller's transaction.

- ``processed_webhooks`` holds one row per (provider, delivery id) claimed: a provider's
  redelivery of the same id finds its row and changes nothing.
- ``integrations`` holds one row per (provider, user) with the time of the newest provider
  event applied to that user, so an older event that arrives late does not overwrite newer
  state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.store.dialect import insert_ignore
from venta_core.store.tables import integrations, processed_webhooks

__all__ = [
    "EVENT_TIME_KEY",
    "advance_event_time",
    "claim",
    "is_claimed",
    "purge_claims",
    "release",
]

#: Key of ``integrations.data`` holding the newest applied event time (ms since the epoch).
EVENT_TIME_KEY = "lastEventAtMs"


def _delivery(provider: str, delivery_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        processed_webhooks.c.provider == provider,
        processed_webhooks.c.delivery_id == delivery_id,
    )


async def claim(
    conn: AsyncConnection, provider: str, delivery_id: str, *, at: datetime | None = None
) -> bool:
    """Record the delivery; ``False`` when it was already recorded (a redelivery).

    Concurrent claims of one id are decided by the primary key: exactly one gets ``True``. A
    claim rolled back with the caller's transaction is forgotten.
    """
    stmt = insert_ignore(conn, processed_webhooks, ["provider", "delivery_id"]).values(
        provider=provider, delivery_id=delivery_id, received_at=at or datetime.now(UTC)
    )
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


async def release(conn: AsyncConnection, provider: str, delivery_id: str) -> bool:
    """Forget a claim (its handling failed), so the provider's retry is handled again."""
    result = await conn.execute(
        sa.delete(processed_webhooks).where(_delivery(provider, delivery_id))
    )
    return bool(result.rowcount)


async def is_claimed(conn: AsyncConnection, provider: str, delivery_id: str) -> bool:
    found = await conn.execute(sa.select(sa.literal(1)).where(_delivery(provider, delivery_id)))
    return found.first() is not None


async def purge_claims(conn: AsyncConnection, before: datetime) -> int:
    """Delete claims received before ``before``; the number deleted."""
    result = await conn.execute(
        sa.delete(processed_webhooks).where(processed_webhooks.c.received_at < before)
    )
    return int(result.rowcount or 0)


async def advance_event_time(
    conn: AsyncConnection,
    provider: str,
    user_id: str,
    at_ms: int,
    data: dict[str, Any] | None = None,
) -> bool:
    """Record ``at_ms`` as the newest event of ``provider`` applied to ``user_id`` and return
    ``True``; return ``False`` (and change nothing) when a newer event was recorded already.

    Events at the same millisecond are not ordered against each other and both pass. The
    row is written before it is read, so the transaction holds the write lock from the start:
    concurrent callers queue instead of deadlocking (SQLite) and see each other's result
    (``FOR UPDATE`` on PostgreSQL).
    """
    now = datetime.now(UTC)
    fresh = {**(data or {}), EVENT_TIME_KEY: at_ms}
    inserted = await conn.execute(
        insert_ignore(conn, integrations, ["provider", "provider_id"]).values(
            id=str(uuid.uuid4()),
            user_id=user_id,
            provider=provider,
            provider_id=user_id,
            data=fresh,
            created_at=now,
            updated_at=now,
        )
    )
    if inserted.rowcount == 1:
        return True
    key = sa.and_(integrations.c.provider == provider, integrations.c.provider_id == user_id)
    row = (await conn.execute(sa.select(integrations.c.data).where(key).with_for_update())).first()
    stored: dict[str, Any] = dict(row.data or {}) if row is not None else {}
    last = stored.get(EVENT_TIME_KEY)
    if isinstance(last, int) and at_ms < last:
        return False
    await conn.execute(
        sa.update(integrations).where(key).values(data={**stored, **fresh}, updated_at=now)
    )
    return True
