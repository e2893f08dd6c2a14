"""SQL behind webhook idempotency and ordering; every function runs in the caller's transaction.

- ``processed_webhooks`` holds one row per (provider, delivery id) claimed: a provider's
  redelivery of the same id finds its row and changes nothing. ``completed_at`` is NULL while
  the delivery is being handled; a NULL claim older than a lease was abandoned (its process
  died) and may be taken over by a redelivery. Provider names with a dot
  (``myprovider.blocked``) hold permanent markers rather than delivery claims: they are
  recorded completed and never purged.
- ``integrations`` holds one row per (provider, user) with the time of the newest provider
  event applied to that user, so an older event that arrives late does not overwrite newer
  state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.store.dialect import insert_ignore
from venta_core.store.tables import integrations, processed_webhooks

__all__ = [
    "EVENT_TIME_KEY",
    "MARKER_SEPARATOR",
    "ClaimState",
    "advance_event_time",
    "claim",
    "claim_state",
    "complete",
    "is_claimed",
    "is_marker",
    "purge_claims",
    "release",
    "take_over",
]

#: Key of ``integrations.data`` holding the newest applied event time (ms since the epoch).
EVENT_TIME_KEY = "lastEventAtMs"

#: A provider name containing this holds permanent markers (``myprovider.blocked``), never purged.
MARKER_SEPARATOR = "."

ClaimState = Literal["completed", "pending"]


def is_marker(provider: str) -> bool:
    """``True`` for a provider name of permanent markers (see ``MARKER_SEPARATOR``)."""
    return MARKER_SEPARATOR in provider


def _delivery(provider: str, delivery_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        processed_webhooks.c.provider == provider,
        processed_webhooks.c.delivery_id == delivery_id,
    )


async def claim(
    conn: AsyncConnection,
    provider: str,
    delivery_id: str,
    *,
    at: datetime | None = None,
    completed: bool = True,
) -> bool:
    """Record the delivery; ``False`` when it was already recorded (a redelivery).

    ``completed=False`` records a claim being handled (see ``complete``); the default records
    it handled at once, as a permanent marker does. Concurrent claims of one id are decided by
    the primary key: exactly one gets ``True``. A claim rolled back with the caller's
    transaction is forgotten.
    """
    now = at or datetime.now(UTC)
    stmt = insert_ignore(conn, processed_webhooks, ["provider", "delivery_id"]).values(
        provider=provider,
        delivery_id=delivery_id,
        received_at=now,
        completed_at=now if completed else None,
    )
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


async def take_over(
    conn: AsyncConnection,
    provider: str,
    delivery_id: str,
    *,
    stale_before: datetime,
    at: datetime | None = None,
) -> bool:
    """Claim again (from ``at``) a delivery whose claim is not completed and was made before
    ``stale_before``: its handler was abandoned. ``True`` for the one caller that took it.

    A single conditional UPDATE: concurrent takers are serialised by the row lock, and the
    later ones no longer match (``received_at`` moved forward), so exactly one wins.
    """
    result = await conn.execute(
        sa.update(processed_webhooks)
        .where(
            _delivery(provider, delivery_id),
            processed_webhooks.c.completed_at.is_(None),
            processed_webhooks.c.received_at < stale_before,
        )
        .values(received_at=at or datetime.now(UTC))
    )
    return bool(result.rowcount == 1)


async def complete(
    conn: AsyncConnection, provider: str, delivery_id: str, *, at: datetime | None = None
) -> bool:
    """Mark the claim handled: from now on a redelivery is skipped and never taken over."""
    result = await conn.execute(
        sa.update(processed_webhooks)
        .where(_delivery(provider, delivery_id), processed_webhooks.c.completed_at.is_(None))
        .values(completed_at=at or datetime.now(UTC))
    )
    return bool(result.rowcount == 1)


async def release(
    conn: AsyncConnection,
    provider: str,
    delivery_id: str,
    *,
    claimed_at: datetime | None = None,
) -> bool:
    """Forget a claim (its handling failed), so the provider's retry is handled again.

    With ``claimed_at``, only that claim is forgotten, and only while it is not completed: a
    handler that outlived its lease does not release the claim another process took over.
    """
    condition = _delivery(provider, delivery_id)
    if claimed_at is not None:
        condition = sa.and_(
            condition,
            processed_webhooks.c.received_at == claimed_at,
            processed_webhooks.c.completed_at.is_(None),
        )
    result = await conn.execute(sa.delete(processed_webhooks).where(condition))
    return bool(result.rowcount)


async def is_claimed(conn: AsyncConnection, provider: str, delivery_id: str) -> bool:
    """``True`` when the delivery is recorded, completed or being handled."""
    found = await conn.execute(sa.select(sa.literal(1)).where(_delivery(provider, delivery_id)))
    return found.first() is not None


async def claim_state(conn: AsyncConnection, provider: str, delivery_id: str) -> ClaimState | None:
    """``"completed"``, ``"pending"`` (being handled, or abandoned), or ``None`` (no claim)."""
    found = await conn.execute(
        sa.select(processed_webhooks.c.completed_at).where(_delivery(provider, delivery_id))
    )
    row = found.first()
    if row is None:
        return None
    return "pending" if row.completed_at is None else "completed"


async def purge_claims(
    conn: AsyncConnection, before: datetime, *, abandoned_before: datetime | None = None
) -> int:
    """Delete completed delivery claims received before ``before``; the number deleted.

    Permanent markers (``is_marker``) are kept whatever their age. Claims never completed are
    deleted only when received before ``abandoned_before`` as well (give a time older than
    the claim lease, so a delivery being handled keeps its claim); ``None`` keeps them all.
    """
    table = processed_webhooks
    old: sa.ColumnElement[bool] = table.c.completed_at.is_not(None)
    if abandoned_before is not None:
        old = sa.or_(old, table.c.received_at < abandoned_before)
    result = await conn.execute(
        sa.delete(table).where(
            table.c.received_at < before,
            old,
            table.c.provider.not_like(f"%{MARKER_SEPARATOR}%"),
        )
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
