"""webhook claims record when their handling completed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

``processed_webhooks.completed_at`` is NULL while a delivery is being handled; a NULL older
than the claim lease is a claim abandoned by a crash, which a redelivery takes over. Rows
written before this revision were kept only after their handler succeeded, so they count as
completed (``completed_at = received_at``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("processed_webhooks", sa.Column("completed_at", Timestamp, nullable=True))
    op.execute("UPDATE processed_webhooks SET completed_at = received_at")


def downgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL drops the column in place.
    with op.batch_alter_table("processed_webhooks") as batch:
        batch.drop_column("completed_at")
