"""Pins: what the live map shows of a vendor beside its position (name, open, primary image,
when it was last seen there), for every vendor of a viewport without one read per vendor.

``PinDirectory`` keeps the pins of the vendors it was asked about (least recently used leave
first) and keeps them true from the vendor events on the bus: ``vendor.created`` and
``vendor.updated`` carry the whole vendor, ``vendor.deleted`` drops it and ``vendor.moved``
advances the time it was seen. The vendors of a viewport it does not hold are read in one
query (``select_pins``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple, TypeVar

from venta_core.errors import ServiceUnavailable
from venta_core.events import (
    MalformedEvent,
    VendorDeletedData,
    VendorEventData,
    VendorMovedData,
    decode_event,
    event_subject,
)
from venta_core.ports.bus import BusMessage, EventBus, Subscription
from venta_core.store.engine import Database
from venta_core.store.rows import aware
from venta_core.store.vendors import select_pins

__all__ = ["Pin", "PinDirectory"]

log = logging.getLogger(__name__)

_Payload = TypeVar("_Payload", VendorEventData, VendorDeletedData, VendorMovedData)

#: Pins kept in process (about 200 bytes each).
MAX_PINS = 100_000


class Pin(NamedTuple):
    name: str
    open: bool
    primary_image: str | None
    seen_at: datetime | None  # when the vendor was last at its live position, as known here
    changed_at: datetime | None = None  # the profile's ``updatedAt``: older events are ignored


class PinDirectory:
    def __init__(self, db: Database, bus: EventBus, *, prefix: str, size: int = MAX_PINS) -> None:
        self._db = db
        self._bus = bus
        self._prefix = prefix
        self._size = size
        self._pins: OrderedDict[str, Pin] = OrderedDict()
        self._subscriptions: list[Subscription] = []
        self._subscribing = asyncio.Lock()

    async def start(self) -> None:
        """Nothing yet: the directory subscribes to vendor events when first asked for pins
        (``pins``), so a process that never shows a map (a worker) does not receive and
        decode every vendor event for it."""

    async def _subscribe(self) -> None:
        """Subscribe to the vendor events, once, before the first read: a change committed
        after that read reaches the pin it read."""
        async with self._subscribing:
            if self._subscriptions:
                return
            handlers = {
                "vendor.created": self._on_vendor,
                "vendor.updated": self._on_vendor,
                "vendor.deleted": self._on_deleted,
                "vendor.moved": self._on_moved,
            }
            subscribed: list[Subscription] = []
            try:
                for type_, handler in handlers.items():
                    subject = event_subject(self._prefix, type_)
                    subscribed.append(await self._bus.subscribe(subject, handler))
            except Exception as exc:  # no pin is held that events could not keep true
                await _unsubscribe(subscribed)
                raise ServiceUnavailable("Vendor events cannot be subscribed to") from exc
            self._subscriptions = subscribed

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        await _unsubscribe(subscriptions)
        self._pins.clear()

    def cached(self, vendor_id: str) -> Pin | None:
        return self._pins.get(vendor_id)

    def held(self, ids: Iterable[str]) -> dict[str, Pin]:
        """The pins of ``ids`` held in process (no read)."""
        return {i: pin for i in ids if (pin := self._pins.get(i)) is not None}

    async def pins(self, ids: Iterable[str]) -> dict[str, Pin]:
        """The pins of the vendors ``ids`` that exist; one query for those not held."""
        if not self._subscriptions:
            await self._subscribe()
        found: dict[str, Pin] = {}
        missing: list[str] = []
        for vendor_id in ids:
            pin = self._pins.get(vendor_id)
            if pin is None:
                missing.append(vendor_id)
            else:
                self._pins.move_to_end(vendor_id)
                found[vendor_id] = pin
        if missing:
            async with self._db.connect() as conn:
                rows = await select_pins(conn, missing)
            for row in rows:
                at = aware(row.location_updated_at) if row.location_updated_at else None
                pin = Pin(row.name, bool(row.open), row.primary_image, at, aware(row.updated_at))
                found[row.id] = self._keep(row.id, pin, at)
        return found

    def seen(self, vendor_id: str, at: datetime) -> None:
        """The vendor was at its live position at ``at`` (a location update here)."""
        pin = self._pins.get(vendor_id)
        if pin is not None and (pin.seen_at is None or pin.seen_at < at):
            self._pins[vendor_id] = pin._replace(seen_at=at)

    def _keep(self, vendor_id: str, pin: Pin, at: datetime | None) -> Pin:
        old = self._pins.get(vendor_id)
        if old is not None and old.seen_at is not None and (at is None or old.seen_at > at):
            pin = pin._replace(seen_at=old.seen_at)  # a newer time learnt meanwhile
        self._pins[vendor_id] = pin
        self._pins.move_to_end(vendor_id)
        while len(self._pins) > self._size:
            self._pins.popitem(last=False)
        return pin

    # -- vendor events -----------------------------------------------------------------------

    async def _on_vendor(self, message: BusMessage) -> None:
        data = _payload(message, VendorEventData)
        if data is None:
            return
        if data.name is None:
            self._pins.pop(data.id, None)  # not the whole vendor: read it again when asked
            return
        old = self._pins.get(data.id)
        changed = aware(data.updated_at)
        newer = old.changed_at if old is not None else None
        if newer is not None and (changed is None or changed < newer):
            return  # relayed after a newer state was read
        seen_at = old.seen_at if old is not None else None
        pin = Pin(data.name, bool(data.open), data.primary_image, seen_at, changed)
        self._keep(data.id, pin, None)

    async def _on_deleted(self, message: BusMessage) -> None:
        data = _payload(message, VendorDeletedData)
        if data is not None:
            self._pins.pop(data.id, None)

    async def _on_moved(self, message: BusMessage) -> None:
        data = _payload(message, VendorMovedData)
        if data is not None:
            self.seen(data.id, data.at)


async def _unsubscribe(subscriptions: list[Subscription]) -> None:
    for subscription in subscriptions:
        try:
            await subscription.unsubscribe()
        except Exception:
            log.warning("could not unsubscribe pins from vendor events", exc_info=True)


def _payload(message: BusMessage, kind: type[_Payload]) -> _Payload | None:
    """The event's payload when it is one of ``kind``, else ``None``. Decoded through
    ``decode_event``: in a process that also runs the worker, the event's bytes are
    decoded once for the pins and every handler."""
    try:
        payload = decode_event(message.data).payload()
    except MalformedEvent:
        return None
    return payload if isinstance(payload, kind) else None
