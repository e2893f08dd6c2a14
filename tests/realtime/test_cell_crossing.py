"""A vendor crossing between two cells a user watches: one ``vendor_sync``, in either order of
the two bus messages (arrival in the new cell, departure from the old one)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.realtime.harness import Server, box, client, plain_session, subject
from venta_core.domain import BoundingBox, Location, VendorPosition
from venta_core.domain.cells import encode
from venta_core.events import gone_subject, live_subject
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.protocol import Outgoing
from venta_core.transports.realtime.session import Session, rect_of

PREFIX = "t"
VIEW = BoundingBox(sw=Location(lat=52.50, long=13.38), ne=Location(lat=52.54, long=13.43))
OLD = (52.51, 13.39)  # cell u33d8, fully in view
NEW = (52.535, 13.425)  # cell u33dc, partly in view
OUTSIDE = (52.545, 13.425)  # u33dc too, but north of the view
assert encode(*OLD, 5) != encode(*NEW, 5) == encode(*OUTSIDE, 5)


class Recorder:
    """Stands in for ``Sender``: what each session would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def deliver(self, sessions: Iterable[Session], out: Outgoing) -> int:
        n = 0
        for session in sessions:
            self.push(session, out)
            n += 1
        return n

    def push(self, session: Session, out: Outgoing) -> None:
        event, data = json.loads(out.text.split(",", 1)[1])
        self.sent.append((session.sid, event, data))

    def cork(self) -> None:
        """Frames are recorded in the order given, as ``Sender.uncork`` writes them."""

    def uncork(self) -> None:
        pass


class NoVendors:
    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        return []


def _session(sid: str) -> Session:
    return plain_session(sid, "/user")


async def _live(bus: MemoryEventBus, cell_of: tuple[float, float], at: tuple[float, float]) -> None:
    body = json.dumps({"vendorId": "v1", "lat": at[0], "long": at[1]}).encode()
    await bus.publish(live_subject(PREFIX, encode(*cell_of, 5), "v1"), body)


@pytest.fixture
async def hub() -> Any:
    bus = MemoryEventBus()
    await bus.start()
    recorder = Recorder()
    hub = CellHub(
        bus=bus,
        locations=NoVendors(),  # type: ignore[arg-type]
        sender=recorder,  # type: ignore[arg-type]
        metrics=RealtimeMetrics(CollectorRegistry()),
        prefix=PREFIX,
        precision=5,
        max_cells=256,
        max_vendors=100,
    )
    yield hub, bus, recorder
    await hub.close()
    await bus.stop()


@pytest.mark.parametrize("arrival_first", [True, False])
async def test_one_sync_per_crossing(hub: Any, arrival_first: bool) -> None:
    cells, bus, recorder = hub
    user = _session("watcher")
    assert await cells.set_view(user, VIEW) == []
    assert rect_of(VIEW) == user.rect

    await _live(bus, OLD, OLD)
    await bus.flush()
    assert recorder.sent == [("watcher", "vendor_sync", _payload(OLD))]
    recorder.sent.clear()

    # the location service publishes the new position on both cells
    if arrival_first:
        await _live(bus, NEW, NEW)
        await bus.flush()
        await _live(bus, OLD, NEW)
    else:
        await _live(bus, OLD, NEW)
        await bus.flush()
        await _live(bus, NEW, NEW)
    await bus.flush()
    assert recorder.sent == [("watcher", "vendor_sync", _payload(NEW))]
    recorder.sent.clear()

    # out of view inside the edge cell, then offline: one message each
    await _live(bus, NEW, OUTSIDE)
    await bus.flush()
    assert recorder.sent == [("watcher", "vendor_left", {"id": "v1"})]
    recorder.sent.clear()
    await _live(bus, NEW, NEW)
    await bus.flush()
    await bus.publish(gone_subject(PREFIX, encode(*NEW, 5), "v1"), b'{"vendorId": "v1"}')
    await bus.flush()
    assert recorder.sent == [
        ("watcher", "vendor_sync", _payload(NEW)),
        ("watcher", "vendor_left", {"id": "v1"}),
    ]


async def test_a_watcher_of_the_old_cell_only_is_told_it_left(hub: Any) -> None:
    cells, bus, recorder = hub
    user = _session("old-only")
    small = BoundingBox(sw=Location(lat=52.505, long=13.385), ne=Location(lat=52.515, long=13.395))
    await cells.set_view(user, small)
    await _live(bus, OLD, OLD)
    await bus.flush()
    recorder.sent.clear()
    await _live(bus, OLD, NEW)
    await bus.flush()
    assert recorder.sent == [("old-only", "vendor_left", {"id": "v1"})]


def _payload(pos: tuple[float, float]) -> dict[str, Any]:
    return {"id": "v1", "location": {"lat": pos[0], "long": pos[1]}}


async def test_one_sync_per_crossing_end_to_end(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await vendor.emit("updateVendorLocation", {"lat": OLD[0], "long": OLD[1]})
        await server.located(vendor_id, *OLD)
        await user.emit("updateUserLocation", box((52.50, 13.38), (52.54, 13.43)))
        assert [c["id"] for c in await user.next("vendor_channels")] == [vendor_id]
        await vendor.emit("updateVendorLocation", {"lat": NEW[0], "long": NEW[1]})
        sync = await user.next("vendor_sync")
        assert sync["id"] == vendor_id
        await user.nothing("vendor_sync", 0.3)
        await user.nothing("vendor_left", 0)
