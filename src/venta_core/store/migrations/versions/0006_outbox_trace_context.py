"""outbox.traceparent, outbox.tracestate: the trace context of the request that added the event

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

When tracing is on, ``store.outbox.add_event`` stores the W3C trace context of the span current
at the insert (the gRPC or HTTP request that changed something), and the relay carries it to
the event's stream message headers, so the worker's handling joins the request's trace. Both
columns stay NULL when tracing is off, and for the rows written before this revision.
``traceparent`` is 55 characters (version 00); ``tracestate`` holds at most 32 list members of
at most 256 characters each in theory, 512 in practice (the specification's advice to
propagators), and a longer one is not stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(55), nullable=True))
    op.add_column("outbox", sa.Column("tracestate", sa.String(512), nullable=True))


def downgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL drops the columns in place.
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("tracestate")
        batch.drop_column("traceparent")
