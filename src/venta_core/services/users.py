"""The user service: users appear on first sight of their external identity, and a deleted one
never appears again.

Deleting a user also records a tombstone of their external id (``deleted_identities``), in the
same transaction. ``ensure_user`` refuses a tombstoned id with ``AccountDeleted`` (401) instead
of creating a new user, so a token that is still valid, a late provider webhook or any other
caller cannot bring the account back. Creating a user and deleting one are serialised per
external id (``store.identities.lock_identity``), so a first sight racing a deletion either
happens before it (and is deleted with it) or is refused. See docs/architecture.md, "Data".
"""

from __future__ import annotations

import contextlib

from venta_core.domain import Subscription, SubscriptionUpdate, User, VendorSummary
from venta_core.domain.text import is_storable, unstorable_reason
from venta_core.errors import AccountDeleted, UserNotFound, ValidationFailed
from venta_core.events import ImageReleasedData, UserEventData, VendorDeletedData
from venta_core.ports.geo import GeoIndex
from venta_core.services.ids import is_uuid
from venta_core.services.protocols import SubscriptionService
from venta_core.store import identities, outbox
from venta_core.store import users as rows
from venta_core.store.engine import Database

__all__ = ["LocalUserService"]


class LocalUserService:
    def __init__(self, db: Database, geo: GeoIndex, subscriptions: SubscriptionService) -> None:
        self._db = db
        self._geo = geo
        self._subscriptions = subscriptions

    async def ensure_user(self, external_id: str) -> User:
        """The user of ``external_id``, created on first sight; ``AccountDeleted`` when the
        identity was deleted."""
        reason = unstorable_reason(external_id)
        if reason is not None:  # from any identity provider, or a gRPC caller
            raise ValidationFailed(
                f"externalId: {reason}",
                details={"errors": [{"field": "externalId", "message": reason}]},
            )
        async with self._db.connect() as conn:
            user = await rows.select_user_by_external_id(conn, external_id)
            deleted = await identities.is_tombstoned(conn, external_id)
        if deleted:
            if user is not None:
                # Recreated before tombstones were checked (the markers migrated by 0004):
                # finish that deletion now, with its events.
                with contextlib.suppress(UserNotFound):
                    await self.delete_user(user.id)
            raise AccountDeleted()
        if user is not None:
            return user
        async with self._db.begin() as conn:
            await identities.lock_identity(conn, external_id)
            # Write first, then read: on SQLite the write takes the database's write lock, so
            # a deletion cannot commit between the tombstone check and the commit.
            new_id = await rows.insert_user_if_absent(conn, external_id)
            if await identities.is_tombstoned(conn, external_id):
                raise AccountDeleted()  # rolls the insert back
            if new_id is not None:
                await outbox.add_event(
                    conn, "user.created", UserEventData(id=new_id, external_id=external_id)
                )
            user = await rows.select_user_by_external_id(conn, external_id)
        assert user is not None  # inserted, or inserted concurrently by someone else
        return user

    async def get_user(self, user_id: str) -> User:
        if not is_uuid(user_id):
            raise UserNotFound(user_id)
        async with self._db.connect() as conn:
            user = await rows.select_user(conn, user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    async def find_by_external_id(self, external_id: str) -> User | None:
        if not is_storable(external_id):
            return None  # no row can hold it
        async with self._db.connect() as conn:
            return await rows.select_user_by_external_id(conn, external_id)

    async def delete_user(self, user_id: str) -> None:
        """Delete the user, and tombstone their external id: it never gets a user again."""
        user = await self.get_user(user_id)
        async with self._db.begin() as conn:
            await identities.lock_identity(conn, user.external_id)
            await identities.add_tombstone(conn, user.external_id, user_id)
            deleted = await rows.delete_user(conn, user_id)
            for vendor_id, image in deleted:
                data = VendorDeletedData(id=vendor_id, owner_id=user_id, primary_image=image)
                await outbox.add_event(conn, "vendor.deleted", data)
                if image is not None:
                    released = ImageReleasedData(
                        url=image, vendor_id=vendor_id, owner_id=user_id, reason="deleted"
                    )
                    await outbox.add_event(conn, "image.released", released)
            await outbox.add_event(
                conn, "user.deleted", UserEventData(id=user_id, external_id=user.external_id)
            )
        for vendor_id, _ in deleted:
            await self._geo.remove(vendor_id)

    async def list_user_vendors(self, user_id: str) -> list[VendorSummary]:
        if not is_uuid(user_id):
            raise UserNotFound(user_id)
        async with self._db.connect() as conn:
            return await rows.select_user_vendors(conn, user_id)

    async def set_subscription(self, user_id: str, update: SubscriptionUpdate) -> Subscription:
        if not is_uuid(user_id):
            raise UserNotFound(user_id)
        return await self._subscriptions.apply(user_id, update)
