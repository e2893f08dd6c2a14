"""Vendor rows: SQL for the vendor service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain import Vendor
from venta_core.store.rows import aware
from venta_core.store.tables import vendors

__all__ = [
    "image_in_use",
    "row_to_vendor",
    "select_live_positions",
    "select_owner",
    "select_pins",
    "select_vendor",
]


def row_to_vendor(row: Any) -> Vendor:
    return Vendor(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        description=row.description,
        phone=row.phone,
        email=row.email,
        website=row.website,
        open=bool(row.open),
        primary_image=row.primary_image,
        lat=row.lat,
        long=row.long,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


async def select_vendor(
    conn: AsyncConnection, vendor_id: str, *, for_update: bool = False
) -> Vendor | None:
    stmt = sa.select(vendors).where(vendors.c.id == vendor_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return row_to_vendor(row) if row else None


async def select_owner(conn: AsyncConnection, vendor_id: str) -> str | None:
    return (
        await conn.execute(sa.select(vendors.c.owner_id).where(vendors.c.id == vendor_id))
    ).scalar_one_or_none()


async def select_live_positions(conn: AsyncConnection) -> list[tuple[str, float, float]]:
    """The last known positions of the vendors that are live (not gone offline since)."""
    rows = await conn.execute(
        sa.select(vendors.c.id, vendors.c.lat, vendors.c.long).where(
            vendors.c.live.is_(True), vendors.c.lat.is_not(None), vendors.c.long.is_not(None)
        )
    )
    return [(r.id, r.lat, r.long) for r in rows]


async def select_pins(conn: AsyncConnection, ids: Sequence[str]) -> list[Any]:
    """What the live map shows of each vendor (id, name, open, primary_image,
    location_updated_at, updated_at), in one query for a whole viewport."""
    if not ids:
        return []
    columns = (
        vendors.c.id,
        vendors.c.name,
        vendors.c.open,
        vendors.c.primary_image,
        vendors.c.location_updated_at,
        vendors.c.updated_at,
    )
    return list(await conn.execute(sa.select(*columns).where(vendors.c.id.in_(list(ids)))))


async def image_in_use(conn: AsyncConnection, key: str) -> bool:
    """Whether any vendor's primary image names the stored image ``key``: its URL, whatever
    its form (a CDN, a signed URL, the gateway's), contains the key. A scan of the vendors
    table, run once per image given up, never on a request."""
    stmt = (
        sa.select(vendors.c.id)
        .where(vendors.c.primary_image.contains(key, autoescape=True))
        .limit(1)
    )
    return (await conn.execute(stmt)).first() is not None
