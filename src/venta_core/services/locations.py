"""The location service: live positions in the geo index, published on the cell subject, and
persisted write-behind (never one database write per update)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from venta_core.domain import Actor, BoundingBox, Location, VendorPosition
from venta_core.domain.cells import encode
from venta_core.domain.locations import VendorCluster
from venta_core.errors import (
    Forbidden,
    LocationNotFound,
    ServiceUnavailable,
    ValidationFailed,
    VendorNotFound,
)
from venta_core.events import EventEnvelope, event_subject, gone_subject, live_subject
from venta_core.observability import tracing
from venta_core.ports.bus import BusMessage, EventBus, Subscription
from venta_core.ports.geo import GeoHit, GeoIndex
from venta_core.services.ids import is_uuid
from venta_core.services.pins import Pin, PinDirectory
from venta_core.services.protocols import VendorService
from venta_core.services.vendors import OwnerCache
from venta_core.settings import Settings
from venta_core.store.engine import Database
from venta_core.store.positions import PositionWriteBehind

__all__ = ["LocalLocationService", "pin_fields"]

log = logging.getLogger(__name__)

#: Bound of the vendor -> last announced cell map (oldest entries leave first).
_MAX_REMEMBERED_CELLS = 200_000


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


#: ``VendorPosition``'s validator, called with a plain dict: a geo query answers up to
#: ``location.max_limit`` positions, and building each through the two models' constructors
#: cost half as much again (2.7 against 1.8 us; a quarter of a gateway's CPU under nearby
#: queries of a hundred vendors).
_validate_position = VendorPosition.__pydantic_validator__.validate_python


def _position(hit: GeoHit, *, with_distance: bool, pin: Pin | None = None) -> VendorPosition:
    fields: dict[str, object] = {"id": hit.member, "location": {"lat": hit.lat, "long": hit.long}}
    if with_distance and hit.distance_m is not None:
        fields["distance"] = round(hit.distance_m, 2)
    if pin is not None:
        fields["updated_at"] = pin.seen_at
        fields["name"] = pin.name
        fields["open"] = pin.open
        fields["primary_image"] = pin.primary_image
    position: VendorPosition = _validate_position(fields)
    return position


def pin_fields(pin: Pin) -> dict[str, object]:
    """A pin's fields as the live messages carry them (``name``, ``open``, ``primaryImage``)."""
    return {"name": pin.name, "open": pin.open, "primaryImage": pin.primary_image}


class LocalLocationService:
    def __init__(
        self,
        settings: Settings,
        geo: GeoIndex,
        bus: EventBus,
        vendors: VendorService,
        vendor_positions: PositionWriteBehind,
        user_positions: PositionWriteBehind,
        *,
        cache_owners: bool = False,
        database: Database | None = None,
    ) -> None:
        """``cache_owners``: keep vendor owners in process (for a remote vendor service, so a
        location update does not cost a gRPC call); entries leave on ``vendor.deleted``.
        ``database``: where the pins of vendors (``services.pins``) are read; without it,
        positions carry no pin fields."""
        self._settings = settings.location
        self._prefix = settings.key_prefix
        self._cell_precision = settings.geo.cell_precision
        self._geo = geo
        self._bus = bus
        self._vendors = vendors
        self._vendor_positions = vendor_positions
        self._user_positions = user_positions
        self._subscription: Subscription | None = None
        self._owners = OwnerCache() if cache_owners else None
        self._cells: dict[str, str] = {}  # vendor -> the cell its last position was announced in
        self._pins = (
            PinDirectory(database, bus, prefix=settings.key_prefix)
            if database is not None
            else None
        )

    async def start(self) -> None:
        """Remove the live position of vendors deleted anywhere (other processes included)."""
        subject = event_subject(self._prefix, "vendor.deleted")
        self._subscription = await self._bus.subscribe(subject, self._on_vendor_deleted)
        if self._pins is not None:
            await self._pins.start()

    async def stop(self) -> None:
        if self._pins is not None:
            await self._pins.stop()
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:
                log.warning("could not unsubscribe from vendor.deleted", exc_info=True)
            self._subscription = None

    async def _on_vendor_deleted(self, message: BusMessage) -> None:
        envelope = EventEnvelope.model_validate_json(message.data)
        vendor_id = str(envelope.data.get("id", ""))
        if vendor_id:
            self._cells.pop(vendor_id, None)
            if self._owners is not None:
                self._owners.discard(vendor_id)
            self._vendor_positions.forget(vendor_id)
            await self._geo.remove(vendor_id)

    async def _owner_of(self, vendor_id: str) -> str:
        if self._owners is None:
            return await self._vendors.owner_of(vendor_id)
        owner = self._owners.get(vendor_id)
        if owner is None:
            owner = await self._vendors.owner_of(vendor_id)
            self._owners.put(vendor_id, owner)
        return owner

    async def _authorize(self, actor: Actor, vendor_id: str) -> None:
        owner = await self._owner_of(vendor_id)
        if not actor.may_act_for(owner):
            raise Forbidden(
                "Only the vendor's owner may change its location", details={"vendorId": vendor_id}
            )

    async def update_vendor_location(
        self, actor: Actor, vendor_id: str, location: Location
    ) -> VendorPosition:
        await self._authorize(actor, vendor_id)
        previous = self._cells.get(vendor_id) or await self._cell_in_index(vendor_id)
        now = datetime.now(UTC)
        await self._geo.set(vendor_id, location.lat, location.long)
        self._vendor_positions.record(vendor_id, location.lat, location.long, now)
        cell = encode(location.lat, location.long, self._cell_precision)
        payload: dict[str, object] = {
            "vendorId": vendor_id,
            "lat": location.lat,
            "long": location.long,
            "at": _rfc3339(now),
        }
        pin = await self._pin_of(vendor_id, now)
        if pin is not None:  # so that watchers the vendor comes into view of see its pin
            payload["pin"] = pin_fields(pin)
        body = json.dumps(payload).encode()
        subjects = [live_subject(self._prefix, cell, vendor_id)]
        if previous is not None and previous != cell:
            # Watchers of the old cell learn that the vendor left it (see docs/realtime.md).
            subjects.append(live_subject(self._prefix, previous, vendor_id))
        await self._announce(subjects, body)
        self._remember_cell(vendor_id, cell)
        return VendorPosition(id=vendor_id, location=location, updated_at=now)

    async def _pin_of(self, vendor_id: str, now: datetime) -> Pin | None:
        """The vendor's pin: held in process (kept true by vendor events), else read once."""
        if self._pins is None:
            return None
        self._pins.seen(vendor_id, now)
        pin = self._pins.cached(vendor_id)
        if pin is not None:
            return pin
        try:
            pin = (await self._pins.pins([vendor_id])).get(vendor_id)
        except ServiceUnavailable:
            return None  # the position is stored and announced all the same, without its pin
        if pin is not None:
            self._pins.seen(vendor_id, now)
        return pin

    async def _with_pins(self, hits: list[GeoHit], *, with_distance: bool) -> list[VendorPosition]:
        """Positions with their pins: one read at most for the vendors not held in process.
        With the database unreachable, those come without pin fields (positions live in the
        geo index and must not fail with the database)."""
        pins: dict[str, Pin] = {}
        if self._pins is not None and hits:
            members = [h.member for h in hits]
            try:
                pins = await self._pins.pins(members)
            except ServiceUnavailable:
                pins = self._pins.held(members)
        return [_position(h, with_distance=with_distance, pin=pins.get(h.member)) for h in hits]

    async def _announce(self, subjects: list[str], body: bytes) -> None:
        """Publish a live position (or a vendor's going offline), softly: with the bus
        unreachable the position is stored all the same (geo index, write-behind) and only this
        message is lost; watchers catch up at the vendor's next update or the real-time
        gateways' re-sync. The bus logs its outage once. With tracing on, the message carries
        the trace context of the update (``traceparent``) for the fan-out to link to."""
        trace = tracing.current_context()
        for subject in subjects:
            try:
                if trace:
                    await self._bus.publish(subject, body, trace)
                else:
                    await self._bus.publish(subject, body)
            except ServiceUnavailable:
                return

    async def _cell_in_index(self, vendor_id: str) -> str | None:
        """The cell of the vendor's current position; read once per vendor and process."""
        hit = await self._geo.get(vendor_id)
        return encode(hit.lat, hit.long, self._cell_precision) if hit is not None else None

    def _remember_cell(self, vendor_id: str, cell: str) -> None:
        if vendor_id not in self._cells and len(self._cells) >= _MAX_REMEMBERED_CELLS:
            self._cells.pop(next(iter(self._cells)))  # oldest first
        self._cells[vendor_id] = cell

    async def update_user_location(self, actor: Actor, location: Location) -> None:
        if actor.user_id is None:
            raise ValidationFailed("Only a user has a location")
        self._user_positions.record(actor.user_id, location.lat, location.long, datetime.now(UTC))

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self._settings.max_limit:
            raise ValidationFailed(
                f"limit must be between 1 and {self._settings.max_limit}",
                details={"field": "limit", "max": self._settings.max_limit},
            )

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        self._check_limit(limit)
        hits = await self._geo.in_box(box, limit)
        return await self._with_pins(hits, with_distance=False)

    async def vendor_clusters(self, box: BoundingBox, precision: int) -> list[VendorCluster]:
        if not 1 <= precision <= 12:
            raise ValidationFailed(
                "precision must be between 1 and 12",
                details={"field": "precision", "min": 1, "max": 12},
            )
        return [
            VendorCluster(cell=c.cell, count=c.members, location=Location(lat=c.lat, long=c.long))
            for c in await self._geo.clusters(box, precision)
        ]

    async def vendors_near(
        self, center: Location, radius_m: float, limit: int
    ) -> list[VendorPosition]:
        self._check_limit(limit)
        if not 0 < radius_m <= self._settings.max_radius_m:
            raise ValidationFailed(
                f"radius must be greater than 0 and at most {self._settings.max_radius_m:g} m",
                details={"field": "radius", "max": self._settings.max_radius_m},
            )
        hits = await self._geo.near(center, radius_m, limit)
        return await self._with_pins(hits, with_distance=True)

    async def get_vendor_location(self, vendor_id: str) -> VendorPosition:
        if not is_uuid(vendor_id):
            raise VendorNotFound(vendor_id)
        hit = await self._geo.get(vendor_id)
        if hit is None:
            raise LocationNotFound(vendor_id)
        (position,) = await self._with_pins([hit], with_distance=False)
        return position

    async def remove_vendor_location(self, actor: Actor, vendor_id: str) -> None:
        await self._authorize(actor, vendor_id)
        cell = self._cells.pop(vendor_id, None) or await self._cell_in_index(vendor_id)
        removed = await self._geo.remove(vendor_id)
        # After the index (an unreachable one raises first): the database learns that the
        # vendor is no longer live, so no refill of the index brings it back.
        self._vendor_positions.record_offline(vendor_id)
        if removed and cell is not None:
            body = json.dumps({"vendorId": vendor_id, "at": _rfc3339(datetime.now(UTC))})
            await self._announce([gone_subject(self._prefix, cell, vendor_id)], body.encode())
