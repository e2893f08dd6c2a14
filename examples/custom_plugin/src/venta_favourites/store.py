"""Favourites in the plugin's own ``favourites`` table, so every gateway and worker process
sees the same. Adding is idempotent; the limit per user is checked in the adding transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from venta_core.errors import Conflict, VendorNotFound

from venta_favourites.tables import favourites

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection
    from venta_core.store.engine import Database

__all__ = ["FavouriteStore"]


class FavouriteStore:
    def __init__(self, database: Database, max_per_user: int) -> None:
        self.database = database
        self.max_per_user = max_per_user

    async def add(self, user_id: str, vendor_id: str) -> None:
        """Mark ``vendor_id`` (``Conflict`` past the limit, ``VendorNotFound`` when unknown)."""
        try:
            async with self.database.begin() as conn:
                mine = set(await self._vendors(conn, user_id))
                if vendor_id not in mine and len(mine) >= self.max_per_user:
                    details = {"maxPerUser": self.max_per_user}
                    raise Conflict("Too many favourites", details=details)
                row = {"user_id": user_id, "vendor_id": vendor_id, "created_at": datetime.now(UTC)}
                await conn.execute(_insert_ignore(conn).values(**row))
        except sa.exc.IntegrityError as exc:  # the vendor was deleted meanwhile
            raise VendorNotFound(vendor_id) from exc

    async def remove(self, user_id: str, vendor_id: str) -> None:
        async with self.database.begin() as conn:
            await conn.execute(
                sa.delete(favourites).where(
                    favourites.c.user_id == user_id, favourites.c.vendor_id == vendor_id
                )
            )

    async def of_user(self, user_id: str) -> list[str]:
        async with self.database.connect() as conn:
            return await self._vendors(conn, user_id)

    async def fans_of(self, vendor_id: str) -> list[str]:
        query = sa.select(favourites.c.user_id).where(favourites.c.vendor_id == vendor_id)
        async with self.database.connect() as conn:
            return sorted((await conn.scalars(query)).all())

    async def forget_vendor(self, vendor_id: str) -> None:
        """Rows go with the vendor (foreign key); this covers a database without cascades."""
        async with self.database.begin() as conn:
            await conn.execute(sa.delete(favourites).where(favourites.c.vendor_id == vendor_id))

    async def forget_user(self, user_id: str) -> None:
        async with self.database.begin() as conn:
            await conn.execute(sa.delete(favourites).where(favourites.c.user_id == user_id))

    async def _vendors(self, conn: AsyncConnection, user_id: str) -> list[str]:
        query = sa.select(favourites.c.vendor_id).where(favourites.c.user_id == user_id)
        return sorted((await conn.scalars(query)).all())


def _insert_ignore(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(favourites).on_conflict_do_nothing(
        index_elements=["user_id", "vendor_id"]
    )
