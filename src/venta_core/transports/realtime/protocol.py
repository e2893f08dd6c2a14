"""The wire: Socket.IO event payloads (validated with pydantic) and packets encoded once.

A Socket.IO v5 event travels inside an Engine.IO v4 message packet. On a websocket that is one
text frame: ``4`` (Engine.IO MESSAGE) + ``2`` (Socket.IO EVENT) + ``/user,`` (namespace) + the JSON
array ``["vendor_sync", {...}]``. ``Outgoing`` builds that once, as the socket.io text (for the
Engine.IO queue of clients still on long-polling) and as the complete websocket frame (for
every client on a websocket), so a fan-out does no per-client encoding.

Incoming packets are decoded by ``StrictPacket``: python-socketio's decoder plus the payload
rules of the reference parser (socket.io-parser), so a packet the reference server would refuse
as a parse error never reaches a handler (see ``edge``).
"""

from __future__ import annotations

import json
import struct
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from socketio import packet as sio_packet

from venta_core.domain import BoundingBox, Location, Text
from venta_core.errors import ValidationFailed, VendorNotFound, VentaError
from venta_core.services.ids import canonical_uuid

__all__ = [
    "USER_NS",
    "VENDOR_NS",
    "ClusterItem",
    "Outgoing",
    "PinItem",
    "PositionItem",
    "StrictPacket",
    "UserLocationMessage",
    "VendorLocationMessage",
    "error_payload",
    "parse",
    "ws_text_frame",
]

M = TypeVar("M", bound="_Message")

USER_NS = "/user"
VENDOR_NS = "/vendor"


class _Message(BaseModel):
    # Unknown keys are ignored (the seed's clients send ``userId``); numbers are strict, so
    # "52.5", true or null are validation errors rather than coerced.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class LatLong(_Message):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    long: float = Field(ge=-180, le=180, allow_inf_nan=False)


class VendorLocationMessage(_Message):
    """``updateVendorLocation``: ``vendorId`` may be left out by the owner of one vendor."""

    vendorId: Text | None = Field(None, min_length=1, max_length=64)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    long: float = Field(ge=-180, le=180, allow_inf_nan=False)

    @property
    def location(self) -> Location:
        return Location(lat=self.lat, long=self.long)

    def vendor_id(self) -> str | None:
        """``vendorId`` as stored (a lower-case UUID), the way REST paths are read; an id that is
        no UUID names no vendor: ``VENDOR_NOT_FOUND``, as on REST."""
        if self.vendorId is None:
            return None
        canonical = canonical_uuid(self.vendorId)
        if canonical is None:
            raise VendorNotFound(self.vendorId)
        return canonical


class UserLocationMessage(_Message):
    """``updateUserLocation``: the map viewport by its north-east and south-west corners."""

    neLocation: LatLong
    swLocation: LatLong

    def box(self) -> BoundingBox:
        try:
            return BoundingBox(
                sw=Location(lat=self.swLocation.lat, long=self.swLocation.long),
                ne=Location(lat=self.neLocation.lat, long=self.neLocation.long),
            )
        except ValidationError:
            raise ValidationFailed(
                "swLocation.lat must not exceed neLocation.lat",
                details={"field": "swLocation.lat"},
            ) from None


# -- what the server sends on /user (documented in docs/realtime.md) ---------------------------


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True)


class PositionItem(_Payload):
    """``vendor_sync`` of a vendor already in view that moved."""

    id: str
    location: LatLong


class PinItem(_Payload):
    """A vendor's pin: each ``vendor_channels`` item, the ``vendor_sync`` of a vendor entering
    the view, and the ``vendor_sync`` sent when a vendor in view changes its profile. The pin
    fields are absent when the vendor's profile is not known (a vendor that vanished)."""

    id: str
    location: LatLong
    name: str | None = None
    open: bool | None = None
    primaryImage: str | None = Field(None, description="URL of the vendor's image; null: none")
    updatedAt: str | None = Field(
        None, description="RFC 3339: when the vendor was last seen at this position"
    )


class ClusterItem(_Payload):
    """A ``vendor_clusters`` item: the live vendors of one geohash cell of a zoomed-out
    viewport, how many, and their centroid."""

    cell: str
    count: int = Field(ge=1)
    location: LatLong


def parse(model: type[M], data: Any) -> M:
    """``data`` as ``model`` or ``ValidationFailed`` naming the first bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("The payload must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ValidationFailed(f"{field}: {first['msg']}", details={"field": field}) from None


def error_payload(error: VentaError) -> dict[str, Any]:
    """The ``error`` event of CONTRACT.md: ``{code, message}`` plus ``details`` when any."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    return body


def ws_text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, final websocket text frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65_536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Outgoing:
    """One server-to-client event, encoded once for any number of recipients."""

    __slots__ = ("_eio", "frame", "text")

    def __init__(self, namespace: str, event: str, data: Any) -> None:
        body = json.dumps([event, data], separators=(",", ":"), ensure_ascii=False)
        #: the Socket.IO packet (what goes into an Engine.IO MESSAGE)
        self.text = f"2{namespace},{body}"
        #: the websocket frame carrying the Engine.IO MESSAGE ``4`` + ``text``
        self.frame = ws_text_frame(("4" + self.text).encode())
        self._eio: Any = None

    def eio_packet(self) -> Any:
        """The Engine.IO packet for clients still on long-polling (built on first use)."""
        if self._eio is None:
            from engineio import packet as eio_packet

            self._eio = eio_packet.Packet(eio_packet.MESSAGE, self.text)
        return self._eio


#: Event names a client may not send (socket.io-parser's ``RESERVED_EVENTS``); python-socketio
#: would hand ``connect`` and ``disconnect`` to the connection handlers.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


def _event_name_ok(name: Any) -> bool:
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


class StrictPacket(sio_packet.Packet):  # type: ignore[misc]  # socketio ships no type hints
    """A Socket.IO packet decoded with socket.io-parser's payload rules: CONNECT carries an object
    or nothing, DISCONNECT nothing, EVENT an array whose first element is the event name (a
    string that is not reserved, or a number: the gateway answers that with VALIDATION_ERROR),
    ACK an array; a client never sends CONNECT_ERROR. Anything else raises ``ValueError``."""

    def decode(self, encoded_packet: Any) -> int:
        attachments: int = super().decode(encoded_packet)
        kind, data = self.packet_type, self.data
        if kind == sio_packet.CONNECT:
            valid = data is None or isinstance(data, dict)
        elif kind == sio_packet.DISCONNECT:
            valid = data is None
        elif kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            valid = isinstance(data, list) and bool(data) and _event_name_ok(data[0])
        elif kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
            valid = isinstance(data, list)
        else:
            valid = False
        if not valid:
            name = sio_packet.packet_names[kind] if kind in range(7) else repr(kind)[:20]
            raise ValueError(f"invalid {name} packet")
        return attachments
