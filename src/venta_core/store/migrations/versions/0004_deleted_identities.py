"""deleted_identities: tombstones of deleted external identities

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

A user is never created again for an external id listed in ``deleted_identities``. Earlier
releases recorded only the deletions that came from Clerk, as permanent markers in
``processed_webhooks`` (provider ``clerk.deleted``, delivery id = the Clerk user id); they are
moved here, and moved back by the downgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deleted_identities",
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("deleted_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("external_id", name=op.f("pk_deleted_identities")),
    )
    # Plain SQL without parameters, so `alembic upgrade --sql` renders it as well.
    op.execute(
        "INSERT INTO deleted_identities (external_id, user_id, deleted_at) "
        "SELECT delivery_id, NULL, received_at FROM processed_webhooks "
        "WHERE provider = 'clerk.deleted'"
    )
    op.execute("DELETE FROM processed_webhooks WHERE provider = 'clerk.deleted'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO processed_webhooks (provider, delivery_id, received_at, completed_at) "
        "SELECT 'clerk.deleted', external_id, deleted_at, deleted_at FROM deleted_identities"
    )
    op.drop_table("deleted_identities")
