"""notes: pinned

Revision ID: notes_0002
Revises: notes_0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notes_0002"
down_revision: str | Sequence[str] | None = "notes_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vendor_notes") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("vendor_notes") as batch:
        batch.drop_column("pinned")
