"""Transactional outbox: events are inserted in the transaction of the change they describe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core import context
from venta_core.events import EventEnvelope
from venta_core.store.tables import outbox

__all__ = ["add_event", "add_events", "claim_pending", "mark_sent", "pending_events", "unmark"]


async def add_event(conn: AsyncConnection, type_: str, data: BaseModel) -> EventEnvelope:
    ctx = context.current()
    envelope = EventEnvelope.new(type_, data, ctx.request_id if ctx else None)
    await conn.execute(
        outbox.insert().values(
            event_id=envelope.id,
            type=envelope.type,
            payload=envelope.model_dump(mode="json", by_alias=True),
            request_id=envelope.request_id,
            created_at=envelope.occurred_at,
        )
    )
    return envelope


async def add_events(
    conn: AsyncConnection,
    type_: str,
    payloads: Sequence[BaseModel],
    *,
    request_id: str | None = None,
) -> list[EventEnvelope]:
    """One event of ``type_`` per payload, inserted in one statement (``executemany``).

    For events that no single request caused (a flush of coalesced positions, say), so the
    request id is given, not taken from the context."""
    envelopes = [EventEnvelope.new(type_, data, request_id) for data in payloads]
    if envelopes:
        await conn.execute(
            outbox.insert(),
            [
                {
                    "event_id": envelope.id,
                    "type": envelope.type,
                    "payload": envelope.model_dump(mode="json", by_alias=True),
                    "request_id": envelope.request_id,
                    "created_at": envelope.occurred_at,
                }
                for envelope in envelopes
            ],
        )
    return envelopes


async def pending_events(conn: AsyncConnection, limit: int) -> list[tuple[int, EventEnvelope]]:
    rows = await conn.execute(
        sa.select(outbox.c.seq, outbox.c.payload)
        .where(outbox.c.sent_at.is_(None))
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [(row.seq, EventEnvelope.model_validate(row.payload)) for row in rows]


async def mark_sent(conn: AsyncConnection, seqs: list[int]) -> None:
    if seqs:
        await conn.execute(
            outbox.update().where(outbox.c.seq.in_(seqs)).values(sent_at=datetime.now(UTC))
        )


async def claim_pending(conn: AsyncConnection, limit: int) -> list[tuple[int, EventEnvelope]]:
    """The oldest ``limit`` pending events, marked sent in the same statement (the relay's
    transaction: ``unmark`` what it could not publish, or roll back), oldest first."""
    oldest = (
        sa.select(outbox.c.seq)
        .where(outbox.c.sent_at.is_(None))
        .order_by(outbox.c.seq)
        .limit(limit)
        .scalar_subquery()
    )
    rows = await conn.execute(
        outbox.update()
        .where(outbox.c.seq.in_(oldest))
        .values(sent_at=datetime.now(UTC))
        .returning(outbox.c.seq, outbox.c.payload)
    )
    claimed = sorted((row.seq, row.payload) for row in rows)
    return [(seq, EventEnvelope.model_validate(payload)) for seq, payload in claimed]


async def unmark(conn: AsyncConnection, seqs: list[int]) -> None:
    """Pending again: claimed rows that were not published."""
    if seqs:
        await conn.execute(outbox.update().where(outbox.c.seq.in_(seqs)).values(sent_at=None))
