"""favourites: the vendors each user marked

Revision ID: favourites_0001
Revises:
Create Date: 2026-12-06

The first revision of the ``favourites`` branch: no ``down_revision``, the branch label, and
``depends_on`` the venta revision that created ``users`` and ``vendors`` (the foreign keys).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "favourites_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("favourites",)
depends_on: str | Sequence[str] | None = "0001"


def upgrade() -> None:
    op.create_table(
        "favourites",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_favourites_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name="fk_favourites_vendor_id_vendors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "vendor_id", name="pk_favourites"),
    )
    op.create_index("ix_favourites_vendor_id", "favourites", ["vendor_id"])


def downgrade() -> None:
    op.drop_index("ix_favourites_vendor_id", table_name="favourites")
    op.drop_table("favourites")
