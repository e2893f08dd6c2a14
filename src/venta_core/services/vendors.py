"""The vendor service: profiles, changed only by their owner."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime

import sqlalchemy as sa

from venta_core.domain import Actor, Vendor, VendorCreate, VendorUpdate
from venta_core.errors import AccountDeleted, Forbidden, ValidationFailed, VendorNotFound
from venta_core.events import (
    ImageReleasedData,
    ImageReleaseReason,
    VendorDeletedData,
    VendorEventData,
)
from venta_core.ports.geo import GeoIndex
from venta_core.services.ids import is_uuid
from venta_core.store import outbox
from venta_core.store import vendors as rows
from venta_core.store.engine import Database
from venta_core.store.tables import vendors

__all__ = ["LocalVendorService", "OwnerCache"]


class OwnerCache:
    """vendor id -> owner id. An owner never changes, so entries only leave on delete or when
    the cache is full (least recently used first)."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._data: OrderedDict[str, str] = OrderedDict()

    def get(self, vendor_id: str) -> str | None:
        owner = self._data.get(vendor_id)
        if owner is not None:
            self._data.move_to_end(vendor_id)
        return owner

    def put(self, vendor_id: str, owner_id: str) -> None:
        self._data[vendor_id] = owner_id
        self._data.move_to_end(vendor_id)
        if len(self._data) > self._size:
            self._data.popitem(last=False)

    def discard(self, vendor_id: str) -> None:
        self._data.pop(vendor_id, None)


def _event_data(vendor: Vendor, replaced_image: str | None = None) -> VendorEventData:
    return VendorEventData.model_validate(
        {**vendor.model_dump(), "previous_primary_image": replaced_image}
    )


def _released(vendor: Vendor, url: str, reason: ImageReleaseReason) -> ImageReleasedData:
    """The ``image.released`` payload of ``vendor`` giving up ``url``."""
    return ImageReleasedData(url=url, vendor_id=vendor.id, owner_id=vendor.owner_id, reason=reason)


class LocalVendorService:
    def __init__(self, db: Database, geo: GeoIndex) -> None:
        self._db = db
        self._geo = geo
        self.owners = OwnerCache()

    async def get_vendor(self, vendor_id: str) -> Vendor:
        if not is_uuid(vendor_id):
            raise VendorNotFound(vendor_id)
        async with self._db.connect() as conn:
            vendor = await rows.select_vendor(conn, vendor_id)
        if vendor is None:
            raise VendorNotFound(vendor_id)
        return vendor

    async def create_vendor(self, actor: Actor, data: VendorCreate) -> Vendor:
        if actor.user_id is None:
            raise ValidationFailed("A vendor needs an owning user")
        now = datetime.now(UTC)
        vendor = Vendor(
            id=str(uuid.uuid4()),
            owner_id=actor.user_id,
            created_at=now,
            updated_at=now,
            **data.fields(),
        )
        try:
            async with self._db.begin() as conn:
                await conn.execute(vendors.insert().values(**vendor.model_dump()))
                await outbox.add_event(conn, "vendor.created", _event_data(vendor))
        except sa.exc.IntegrityError:
            # The ids are new, so only the owner's foreign key can fail: the acting user was
            # deleted after a transport resolved it (a cached identity, an old signed actor).
            raise AccountDeleted() from None
        self.owners.put(vendor.id, vendor.owner_id)
        return vendor

    async def update_vendor(self, actor: Actor, vendor_id: str, data: VendorUpdate) -> Vendor:
        if not is_uuid(vendor_id):
            raise VendorNotFound(vendor_id)
        changes = data.changes()
        async with self._db.begin() as conn:
            current = await rows.select_vendor(conn, vendor_id, for_update=True)
            if current is None:
                raise VendorNotFound(vendor_id)
            if not actor.may_act_for(current.owner_id):
                raise Forbidden(
                    "Only the vendor's owner may change it", details={"vendorId": vendor_id}
                )
            if not changes:
                return current
            changes["updated_at"] = datetime.now(UTC)
            await conn.execute(vendors.update().where(vendors.c.id == vendor_id).values(**changes))
            updated = current.model_copy(update=changes)
            replaced = current.primary_image
            if replaced == updated.primary_image:
                replaced = None
            await outbox.add_event(conn, "vendor.updated", _event_data(updated, replaced))
            if replaced is not None:
                reason: ImageReleaseReason = (
                    "removed" if updated.primary_image is None else "replaced"
                )
                await outbox.add_event(conn, "image.released", _released(updated, replaced, reason))
        return updated

    async def delete_vendor(self, actor: Actor, vendor_id: str) -> None:
        """The live position goes first, then the row: with the geo index unreachable nothing
        is deleted (``ServiceUnavailable``), rather than a deleted vendor left on the map.
        (A position set between the two is removed on ``vendor.deleted``, see the location
        service.)"""
        if not is_uuid(vendor_id):
            raise VendorNotFound(vendor_id)
        self._check_owner(actor, vendor_id, await self.owner_of(vendor_id))
        await self._geo.remove(vendor_id)
        async with self._db.begin() as conn:
            current = await rows.select_vendor(conn, vendor_id, for_update=True)
            if current is None:
                raise VendorNotFound(vendor_id)
            owner_id = current.owner_id
            self._check_owner(actor, vendor_id, owner_id)
            await conn.execute(vendors.delete().where(vendors.c.id == vendor_id))
            deleted = VendorDeletedData(
                id=vendor_id, owner_id=owner_id, primary_image=current.primary_image
            )
            await outbox.add_event(conn, "vendor.deleted", deleted)
            if current.primary_image is not None:
                released = _released(current, current.primary_image, "deleted")
                await outbox.add_event(conn, "image.released", released)
        self.owners.discard(vendor_id)

    @staticmethod
    def _check_owner(actor: Actor, vendor_id: str, owner_id: str) -> None:
        if not actor.may_act_for(owner_id):
            raise Forbidden(
                "Only the vendor's owner may delete it", details={"vendorId": vendor_id}
            )

    async def owner_of(self, vendor_id: str) -> str:
        if not is_uuid(vendor_id):
            raise VendorNotFound(vendor_id)
        owner = self.owners.get(vendor_id)
        if owner is not None:
            return owner
        async with self._db.connect() as conn:
            owner = await rows.select_owner(conn, vendor_id)
        if owner is None:
            raise VendorNotFound(vendor_id)
        self.owners.put(vendor_id, owner)
        return owner
