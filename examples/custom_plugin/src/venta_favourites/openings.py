"""Turning vendor events into "your favourite vendor is open" notifications.

Events arrive at least once and not strictly in order, so the handler is idempotent: it keeps
the newest state seen per vendor (by ``updatedAt``) and notifies only when that state goes
from closed to open. A duplicate, or an older event arriving late, notifies nobody.
"""

from __future__ import annotations

from datetime import datetime

from venta_core.events import EventEnvelope, UserEventData, VendorDeletedData, VendorEventData

from venta_favourites.notify import Notification, Notifier
from venta_favourites.store import FavouriteStore

__all__ = ["EVENT_TYPES", "OpeningWatcher"]

EVENT_TYPES = frozenset({"vendor.created", "vendor.updated", "vendor.deleted", "user.deleted"})


class OpeningWatcher:
    def __init__(self, store: FavouriteStore, notifier: Notifier) -> None:
        self.store = store
        self.notifier = notifier
        self._last: dict[str, tuple[datetime, bool]] = {}

    async def handle(self, envelope: EventEnvelope) -> None:
        payload = envelope.payload()
        if isinstance(payload, VendorDeletedData):
            await self.store.forget_vendor(payload.id)
            self._last.pop(payload.id, None)
        elif isinstance(payload, UserEventData):
            await self.store.forget_user(payload.id)
        elif isinstance(payload, VendorEventData):
            await self._vendor_changed(payload, payload.updated_at or envelope.occurred_at)

    async def _vendor_changed(self, vendor: VendorEventData, at: datetime) -> None:
        previous = self._last.get(vendor.id)
        if previous is not None and at <= previous[0]:
            return  # a duplicate or an older event
        is_open = bool(vendor.open)
        self._last[vendor.id] = (at, is_open)
        was_open = previous[1] if previous is not None else False
        if is_open and not was_open:
            for user_id in await self.store.fans_of(vendor.id):
                await self.notifier.notify(Notification(user_id, vendor.id, vendor.name))
