"""notes: a note per vendor

Revision ID: notes_0001
Revises:
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notes_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("notes",)
depends_on: str | Sequence[str] | None = "0005"


def upgrade() -> None:
    op.create_table(
        "vendor_notes",
        sa.Column(
            "vendor_id",
            sa.String(length=36),
            sa.ForeignKey("vendors.id", ondelete="CASCADE", name="fk_vendor_notes_vendor_id"),
            primary_key=True,
        ),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vendor_notes")
