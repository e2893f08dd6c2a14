"""The schema, as SQLAlchemy Core tables. Changes go through an Alembic migration as well."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "deleted_identities",
    "integrations",
    "metadata",
    "outbox",
    "processed_webhooks",
    "user_subscriptions",
    "users",
    "vendors",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

Id = sa.String(36)
Timestamp = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("external_id", sa.String(255), nullable=False, unique=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("long", sa.Float, nullable=True),
    sa.Column("location_updated_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

vendors = sa.Table(
    "vendors",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "owner_id",
        Id,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("website", sa.String(2048), nullable=True),
    sa.Column("open", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("primary_image", sa.String(2048), nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("long", sa.Float, nullable=True),
    sa.Column("location_updated_at", Timestamp, nullable=True),
    # Whether lat/long are on the live map (cleared when the vendor goes offline; migration 0005)
    sa.Column("live", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

user_subscriptions = sa.Table(
    "user_subscriptions",
    metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("product_id", sa.String(255), nullable=True),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("last_event_id", sa.String(255), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("provider_id", sa.String(255), nullable=False),
    sa.Column("data", sa.JSON, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("provider", "provider_id"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", Id, nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
    # W3C trace context of the span current at the insert (tracing on), migration 0006
    sa.Column("traceparent", sa.String(55), nullable=True),
    sa.Column("tracestate", sa.String(512), nullable=True),
    sa.Index("ix_outbox_pending", "sent_at", "seq"),
)

processed_webhooks = sa.Table(
    "processed_webhooks",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("delivery_id", sa.String(255), primary_key=True),
    sa.Column("received_at", Timestamp, nullable=False),
    # NULL while the delivery is being handled: an old NULL is a claim abandoned by a crash.
    sa.Column("completed_at", Timestamp, nullable=True),
)

# One row per deleted external identity (a tombstone): a user is never created again for it,
# however valid the identity provider still finds its tokens. Rows are never purged.
deleted_identities = sa.Table(
    "deleted_identities",
    metadata,
    sa.Column("external_id", sa.String(255), primary_key=True),
    # The id the user had, when a user existed (kept for the record; ids are never reused).
    sa.Column("user_id", Id, nullable=True),
    sa.Column("deleted_at", Timestamp, nullable=False),
)
