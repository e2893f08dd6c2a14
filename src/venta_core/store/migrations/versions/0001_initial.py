"""initial schema: users, vendors, user_subscriptions, integrations, outbox, processed_webhooks

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Constraint and index names follow the naming convention of ``venta_core.store.tables``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.String(length=36)
Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    ]


def _user_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("location_updated_at", Timestamp, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_id", name=op.f("uq_users_external_id")),
    )
    op.create_table(
        "vendors",
        sa.Column("id", Id, nullable=False),
        sa.Column("owner_id", Id, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("website", sa.String(length=2048), nullable=True),
        sa.Column("open", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("primary_image", sa.String(length=2048), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("location_updated_at", Timestamp, nullable=True),
        *_timestamps(),
        _user_fk("owner_id", "vendors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
    )
    op.create_index(op.f("ix_vendors_owner_id"), "vendors", ["owner_id"])
    op.create_table(
        "user_subscriptions",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=True),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.Column("last_event_id", sa.String(length=255), nullable=True),
        *_timestamps(),
        _user_fk("user_id", "user_subscriptions"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_subscriptions")),
    )
    op.create_table(
        "integrations",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        *_timestamps(),
        _user_fk("user_id", "integrations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint(
            "provider", "provider_id", name=op.f("uq_integrations_provider_provider_id")
        ),
    )
    op.create_index(op.f("ix_integrations_user_id"), "integrations", ["user_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", Id, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index("ix_outbox_pending", "outbox", ["sent_at", "seq"])
    op.create_table(
        "processed_webhooks",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("provider", "delivery_id", name=op.f("pk_processed_webhooks")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before the users they reference.
    for table in (
        "processed_webhooks",
        "outbox",
        "integrations",
        "user_subscriptions",
        "vendors",
        "users",
    ):
        op.drop_table(table)
