"""User rows: SQL for the user and subscription services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain import Location, Subscription, SubscriptionStatus, User, VendorSummary
from venta_core.store.dialect import insert_ignore
from venta_core.store.rows import aware
from venta_core.store.tables import user_subscriptions, users, vendors

__all__ = [
    "delete_user",
    "insert_user_if_absent",
    "select_user",
    "select_user_by_external_id",
    "select_user_vendors",
]

_USER_COLUMNS = (
    users,
    user_subscriptions.c.status,
    user_subscriptions.c.provider,
    user_subscriptions.c.product_id,
    user_subscriptions.c.expires_at,
    user_subscriptions.c.updated_at.label("sub_updated_at"),
)


def _select() -> sa.Select[Any]:
    return sa.select(*_USER_COLUMNS).select_from(
        users.outerjoin(user_subscriptions, user_subscriptions.c.user_id == users.c.id)
    )


def row_to_user(row: Any) -> User:
    subscription = Subscription()
    if row.status is not None:
        subscription = Subscription(
            status=SubscriptionStatus(row.status),
            provider=row.provider,
            product_id=row.product_id,
            expires_at=aware(row.expires_at),
            updated_at=aware(row.sub_updated_at),
        )
    location = None
    if row.lat is not None and row.long is not None:
        location = Location(lat=row.lat, long=row.long)
    return User(
        id=row.id,
        external_id=row.external_id,
        subscription=subscription,
        location=location,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


async def select_user(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(_select().where(users.c.id == user_id))).first()
    return row_to_user(row) if row else None


async def select_user_by_external_id(conn: AsyncConnection, external_id: str) -> User | None:
    row = (await conn.execute(_select().where(users.c.external_id == external_id))).first()
    return row_to_user(row) if row else None


async def insert_user_if_absent(conn: AsyncConnection, external_id: str) -> str | None:
    """Insert a user for ``external_id`` unless one exists; the new id, or None if it existed."""
    now = datetime.now(UTC)
    new_id = str(uuid.uuid4())
    stmt = insert_ignore(conn, users, ["external_id"]).values(
        id=new_id, external_id=external_id, created_at=now, updated_at=now
    )
    result = await conn.execute(stmt)
    return new_id if result.rowcount == 1 else None


async def select_user_vendors(conn: AsyncConnection, user_id: str) -> list[VendorSummary]:
    rows = await conn.execute(
        sa.select(vendors.c.id, vendors.c.name)
        .where(vendors.c.owner_id == user_id)
        .order_by(vendors.c.created_at, vendors.c.id)
    )
    return [VendorSummary(id=r.id, name=r.name) for r in rows]


async def delete_user(conn: AsyncConnection, user_id: str) -> list[tuple[str, str | None]]:
    """Delete the user (vendors and subscription cascade); the deleted vendors' ids, each with
    its primary image."""
    owned = sa.select(vendors.c.id, vendors.c.primary_image).where(vendors.c.owner_id == user_id)
    deleted = [(row.id, row.primary_image) for row in await conn.execute(owned)]
    # Explicit deletes keep SQLite databases without enforced foreign keys consistent too.
    await conn.execute(vendors.delete().where(vendors.c.owner_id == user_id))
    await conn.execute(user_subscriptions.delete().where(user_subscriptions.c.user_id == user_id))
    await conn.execute(users.delete().where(users.c.id == user_id))
    return deleted
