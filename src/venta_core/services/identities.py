"""Deleted identities (tombstones), for the callers that work with external ids directly: the
identity provider's webhooks, billing webhooks and the ``venta users`` admin commands.

A tombstone is written by ``UserService.delete_user`` in the deletion's own transaction. An
identity provider may also announce the deletion of an identity venta never saw (no user row):
``forget`` records its tombstone all the same, so a late event or a token cannot create the
user afterwards. ``restore`` lifts a tombstone: the next sight of the identity creates a new,
empty user (a new id; the deleted user's vendors and subscription are gone for good).

Built on the database like ``WebhookDeliveries``::

    identities = DeletedIdentities(app.database)
    if await identities.is_deleted(external_id): ...
"""

from __future__ import annotations

from venta_core.store import identities as rows
from venta_core.store.engine import Database

__all__ = ["DeletedIdentities"]


class DeletedIdentities:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def forget(self, external_id: str) -> bool:
        """Tombstone ``external_id`` (it may never have had a user); ``False`` when it was
        tombstoned already. Delete its user, if any, with ``UserService.delete_user``
        afterwards: from now on no user is created for it, so none can appear in between."""
        async with self._db.begin() as conn:
            await rows.lock_identity(conn, external_id)
            return await rows.add_tombstone(conn, external_id)

    async def is_deleted(self, external_id: str) -> bool:
        async with self._db.connect() as conn:
            return await rows.is_tombstoned(conn, external_id)

    async def restore(self, external_id: str) -> bool:
        """Lift the tombstone of ``external_id``; ``False`` when it had none."""
        async with self._db.begin() as conn:
            await rows.lock_identity(conn, external_id)
            return await rows.remove_tombstone(conn, external_id)
