"""The plugin on the real-time gateway: ``favourite_vendor`` on ``/user`` marks a vendor (or
unmarks it) from the map itself, and ``PresenceLog`` counts the vendors online."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from venta_favourites.store import FavouriteStore

if TYPE_CHECKING:
    from venta_core import RealtimeCaller, RealtimeHandler
    from venta_core.app import Venta

__all__ = ["FavouriteVendor", "PresenceLog", "favourite_vendor_handler"]

log = logging.getLogger("venta.favourites")


class FavouriteVendor(BaseModel):
    """``{"vendorId": "...", "favourite": true}`` (``favourite`` false: unmark)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, strict=True)

    vendor_id: str = Field(min_length=1, max_length=64)
    favourite: bool = True


def favourite_vendor_handler(app: Venta, store: FavouriteStore) -> RealtimeHandler[Any]:
    from venta_core import RealtimeHandler

    async def favourite(caller: RealtimeCaller, payload: FavouriteVendor) -> dict[str, Any]:
        if payload.favourite:
            await app.vendors.get_vendor(payload.vendor_id)  # VENDOR_NOT_FOUND when unknown
            await store.add(caller.user_id, payload.vendor_id)  # CONFLICT past the limit
        else:
            await store.remove(caller.user_id, payload.vendor_id)
        return {"vendorIds": await store.of_user(caller.user_id)}  # the acknowledgement

    return RealtimeHandler("/user", "favourite_vendor", FavouriteVendor, favourite)


class PresenceLog:
    """The vendors online as this process heard it, and how often vendors came and went."""

    def __init__(self) -> None:
        self.online: set[str] = set()
        self.changes = 0

    def seen(self, vendor_id: str, online: bool) -> None:
        was = vendor_id in self.online
        if online == was:
            return  # a reconnect: no news
        self.changes += 1
        if online:
            self.online.add(vendor_id)
        else:
            self.online.discard(vendor_id)
        log.info("vendor %s went %s", vendor_id, "online" if online else "offline")
