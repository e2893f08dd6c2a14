"""SQL behind deleted identities (tombstones); every function runs in the caller's transaction.

A tombstone in ``deleted_identities`` says "this external id was deleted": no user is created
for it again. Creating a user and writing a tombstone must not interleave, or a token presented
at the moment of deletion could insert a user the deletion does not see. Both therefore start
with ``lock_identity``: on PostgreSQL a transaction-scoped advisory lock per external id
(hashed; a collision only serialises two unrelated first sights). SQLite has one writer at a
time, so its transactions are serialised as soon as their first write; callers write first and
read after (see ``services.users``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.store.dialect import insert_ignore
from venta_core.store.tables import deleted_identities

__all__ = ["add_tombstone", "is_tombstoned", "lock_identity", "remove_tombstone"]

#: First key of the two-key advisory locks on external ids ("vent"). The two-key form is a key
#: space of its own, apart from the one-key locks of migrations and the outbox relay.
IDENTITY_LOCK_CLASS = 0x76656E74


def _lock_key(external_id: str) -> int:
    digest = hashlib.blake2b(external_id.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_identity(conn: AsyncConnection, external_id: str) -> None:
    """Hold, until the transaction ends, the lock that serialises creating a user for
    ``external_id`` and deleting it (PostgreSQL; nothing to do on SQLite)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(IDENTITY_LOCK_CLASS, _lock_key(external_id)))
        )


async def add_tombstone(
    conn: AsyncConnection, external_id: str, user_id: str | None = None
) -> bool:
    """Record ``external_id`` as deleted; ``False`` when it was recorded already."""
    stmt = insert_ignore(conn, deleted_identities, ["external_id"]).values(
        external_id=external_id, user_id=user_id, deleted_at=datetime.now(UTC)
    )
    return bool((await conn.execute(stmt)).rowcount == 1)


async def is_tombstoned(conn: AsyncConnection, external_id: str) -> bool:
    found = await conn.execute(
        sa.select(sa.literal(1)).where(deleted_identities.c.external_id == external_id)
    )
    return found.first() is not None


async def remove_tombstone(conn: AsyncConnection, external_id: str) -> bool:
    """Forget that ``external_id`` was deleted; ``False`` when it was not."""
    result = await conn.execute(
        sa.delete(deleted_identities).where(deleted_identities.c.external_id == external_id)
    )
    return bool(result.rowcount)
