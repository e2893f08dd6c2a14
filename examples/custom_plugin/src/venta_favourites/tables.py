"""The plugin's own table, created by its own migrations (``migrations/``, an Alembic branch
named ``favourites`` beside venta's; see ``venta_migrations`` in docs/plugins.md)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["favourites", "metadata"]

#: The plugin's tables: ``venta db revision --plugin favourites`` compares them with the
#: database, and venta's own comparisons leave them out.
metadata = sa.MetaData()

favourites = sa.Table(
    "favourites",
    metadata,
    # A user's or a vendor's favourites go with them (and with their rows in venta's tables).
    sa.Column(
        "user_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_favourites_user_id_users"),
        nullable=False,
    ),
    sa.Column(
        "vendor_id",
        sa.String(36),
        sa.ForeignKey("vendors.id", ondelete="CASCADE", name="fk_favourites_vendor_id_vendors"),
        nullable=False,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "vendor_id", name="pk_favourites"),
    sa.Index("ix_favourites_vendor_id", "vendor_id"),
)
