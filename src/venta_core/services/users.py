"""The user service: users appear on first sight of their external identity."""

from __future__ import annotations

from venta_core.domain import Subscription, SubscriptionUpdate, User, VendorSummary
from venta_core.domain.text import is_storable, unstorable_reason
from venta_core.errors import UserNotFound, ValidationFailed
from venta_core.events import UserEventData, VendorDeletedData
from venta_core.ports.geo import GeoIndex
from venta_core.services.ids import is_uuid
from venta_core.services.protocols import SubscriptionService
from venta_core.store import outbox
from venta_core.store import users as rows
from venta_core.store.engine import Database

__all__ = ["LocalUserService"]


class LocalUserService:
    def __init__(self, db: Database, geo: GeoIndex, subscriptions: SubscriptionService) -> None:
        self._db = db
        self._geo = geo
        self._subscriptions = subscriptions

    async def ensure_user(self, external_id: str) -> User:
        reason = unstorable_reason(external_id)
        if reason is not None:  # from any identity provider, or a gRPC caller
            raise ValidationFailed(
                f"externalId: {reason}",
                details={"errors": [{"field": "externalId", "message": reason}]},
            )
        async with self._db.connect() as conn:
            user = await rows.select_user_by_external_id(conn, external_id)
        if user is not None:
            return user
        async with self._db.begin() as conn:
            new_id = await rows.insert_user_if_absent(conn, external_id)
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
        user = await self.get_user(user_id)
        async with self._db.begin() as conn:
            vendor_ids = await rows.delete_user(conn, user_id)
            for vendor_id in vendor_ids:
                await outbox.add_event(
                    conn, "vendor.deleted", VendorDeletedData(id=vendor_id, owner_id=user_id)
                )
            await outbox.add_event(
                conn, "user.deleted", UserEventData(id=user_id, external_id=user.external_id)
            )
        for vendor_id in vendor_ids:
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
