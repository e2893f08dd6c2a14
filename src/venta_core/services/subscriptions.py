"""Subscription status per user, changed by billing events (RevenueCat plugin, admin)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain import Subscription, SubscriptionUpdate
from venta_core.errors import UserNotFound
from venta_core.events import SubscriptionEventData
from venta_core.store import outbox
from venta_core.store.dialect import upsert
from venta_core.store.engine import Database
from venta_core.store.rows import aware
from venta_core.store.tables import user_subscriptions, users

__all__ = ["LocalSubscriptionService"]


class LocalSubscriptionService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> Subscription:
        async with self._db.connect() as conn:
            if await self._user_missing(conn, user_id):
                raise UserNotFound(user_id)
            row = (
                await conn.execute(
                    sa.select(user_subscriptions).where(user_subscriptions.c.user_id == user_id)
                )
            ).first()
        return _to_subscription(row) if row else Subscription()

    async def apply(self, user_id: str, update: SubscriptionUpdate) -> Subscription:
        """Upsert the status. The same ``event_id`` twice is a no-op (webhook redelivery)."""
        now = datetime.now(UTC)
        async with self._db.begin() as conn:
            if await self._user_missing(conn, user_id):
                raise UserNotFound(user_id)
            current = (
                await conn.execute(
                    sa.select(user_subscriptions).where(user_subscriptions.c.user_id == user_id)
                )
            ).first()
            if current is not None and update.event_id and current.last_event_id == update.event_id:
                return _to_subscription(current)
            values = {
                "user_id": user_id,
                "status": update.status.value,
                "provider": update.provider,
                "product_id": update.product_id,
                "expires_at": update.expires_at,
                "last_event_id": update.event_id,
                "created_at": current.created_at if current is not None else now,
                "updated_at": now,
            }
            await conn.execute(upsert(conn, user_subscriptions, ["user_id"], values))
            await outbox.add_event(
                conn,
                "subscription.updated",
                SubscriptionEventData(
                    user_id=user_id,
                    status=update.status,
                    provider=update.provider,
                    product_id=update.product_id,
                    expires_at=update.expires_at,
                ),
            )
        return Subscription(
            status=update.status,
            provider=update.provider,
            product_id=update.product_id,
            expires_at=update.expires_at,
            updated_at=now,
        )

    @staticmethod
    async def _user_missing(conn: AsyncConnection, user_id: str) -> bool:
        found = await conn.execute(sa.select(users.c.id).where(users.c.id == user_id))
        return found.first() is None


def _to_subscription(row: sa.Row[tuple[object, ...]]) -> Subscription:
    m = row._mapping
    return Subscription(
        status=m["status"],
        provider=m["provider"],
        product_id=m["product_id"],
        expires_at=aware(m["expires_at"]),
        updated_at=aware(m["updated_at"]),
    )
