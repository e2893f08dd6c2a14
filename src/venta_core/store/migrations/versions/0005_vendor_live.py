"""vendors.live: whether the vendor's last known position is on the live map

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

The write-behind sets ``live`` with every position it writes and clears it when the vendor's
live position is removed (it went offline); ``lat``/``long`` keep the last known position
either way. A geo index that starts empty (a new in-process index, a Redis that came back
empty) is refilled with the live vendors only, so a vendor that went offline does not come
back on the map.

Rows written before this revision start not live: which of them were still on the map is not
known to the database, and showing a vendor that went offline is worse than waiting for its
next update. (A running Redis keeps its positions through the upgrade.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "vendors", sa.Column("live", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL drops the column in place.
    with op.batch_alter_table("vendors") as batch:
        batch.drop_column("live")
