"""Migration 0004 on SQLite and PostgreSQL: the tombstones earlier releases kept among webhook
claims (``clerk.deleted`` markers) move to ``deleted_identities``, and back on downgrade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from venta_core.settings import Settings
from venta_core.store import migrate

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

#: ``processed_webhooks`` as revision 0003 made it.
CLAIMS = sa.table(
    "processed_webhooks",
    sa.column("provider", sa.String()),
    sa.column("delivery_id", sa.String()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("completed_at", sa.DateTime(timezone=True)),
)


def _run(settings: Settings, step: Any) -> Any:
    async def run() -> Any:
        async with migrate.connect(settings.database_url) as connection:
            return await connection.run_sync(step)

    return asyncio.run(run())


def _insert_0003_rows(connection: sa.Connection) -> None:
    rows = [("clerk.deleted", "user_gone"), ("clerk", "msg_1"), ("revenuecat", "evt_1")]
    connection.execute(
        sa.insert(CLAIMS),
        [{"provider": p, "delivery_id": d, "received_at": AT, "completed_at": AT} for p, d in rows],
    )
    connection.commit()


def _claims(connection: sa.Connection) -> set[tuple[str, str]]:
    found = connection.execute(sa.text("SELECT provider, delivery_id FROM processed_webhooks"))
    return {(r.provider, r.delivery_id) for r in found}


def _tombstones(connection: sa.Connection) -> list[tuple[Any, ...]]:
    found = connection.execute(
        sa.text("SELECT external_id, user_id, deleted_at FROM deleted_identities")
    )
    return [tuple(r) for r in found]


def _aware(value: datetime | str) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def test_clerk_markers_move_to_deleted_identities_and_back(db_settings: Settings) -> None:
    migrate.upgrade(db_settings, "0003")
    _run(db_settings, _insert_0003_rows)

    migrate.upgrade(db_settings, "0004")

    [(external_id, user_id, deleted_at)] = _run(db_settings, _tombstones)
    assert (external_id, user_id, _aware(deleted_at)) == ("user_gone", None, AT)
    assert _run(db_settings, _claims) == {("clerk", "msg_1"), ("revenuecat", "evt_1")}

    migrate.downgrade(db_settings, "0003")

    assert _run(db_settings, _claims) == {
        ("clerk.deleted", "user_gone"),
        ("clerk", "msg_1"),
        ("revenuecat", "evt_1"),
    }
    migrate.upgrade(db_settings)
    assert [t[0] for t in _run(db_settings, _tombstones)] == ["user_gone"]
