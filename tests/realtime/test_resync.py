"""``CellHub.resync``: what lost bus messages left wrong is repaired from the geo index."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.realtime.harness import Server, box, client, subject
from tests.realtime.test_cell_crossing import NEW, OLD, VIEW, Recorder, _session
from venta_core.domain import BoundingBox, Location, VendorPosition
from venta_core.domain.cells import encode
from venta_core.events import gone_subject, live_subject
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.metrics import RealtimeMetrics

PREFIX = "t"


class Index:
    """Stands in for the location service: the positions the geo index holds."""

    def __init__(self) -> None:
        self.positions: dict[str, tuple[float, float]] = {}
        self.gate: asyncio.Event | None = None  # holds up the read of the cell of NEW
        self.reading = asyncio.Event()

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        found = [
            VendorPosition(id=vid, location=Location(lat=lat, long=long))
            for vid, (lat, long) in self.positions.items()
            if box.sw.lat <= lat <= box.ne.lat and box.sw.long <= long <= box.ne.long
        ]
        if self.gate is not None and encode(*NEW, 5) == encode(box.center.lat, box.center.long, 5):
            self.reading.set()
            await self.gate.wait()
        return found[:limit]


@pytest.fixture
async def parts() -> Any:
    bus = MemoryEventBus()
    await bus.start()
    index, recorder = Index(), Recorder()
    hub = CellHub(
        bus=bus,
        locations=index,  # type: ignore[arg-type]
        sender=recorder,  # type: ignore[arg-type]
        metrics=RealtimeMetrics(CollectorRegistry()),
        prefix=PREFIX,
        precision=5,
        max_cells=256,
        max_vendors=100,
    )
    user = _session("watcher")
    await hub.set_view(user, VIEW)
    yield hub, bus, index, recorder
    await hub.close()
    await bus.stop()


async def _live(bus: MemoryEventBus, vid: str, at: tuple[float, float]) -> None:
    body = json.dumps({"vendorId": vid, "lat": at[0], "long": at[1]}).encode()
    await bus.publish(live_subject(PREFIX, encode(*at, 5), vid), body)
    await bus.flush()


async def test_nothing_to_repair(parts: Any) -> None:
    hub, bus, index, recorder = parts
    index.positions["v1"] = OLD
    await _live(bus, "v1", OLD)
    recorder.sent.clear()
    assert await hub.resync() == 0
    assert recorder.sent == []


async def test_lost_messages_are_repaired(parts: Any) -> None:
    hub, bus, index, recorder = parts
    await _live(bus, "gone", OLD)  # its `gone` message is lost
    index.positions["new"] = NEW  # its `live` message is lost
    recorder.sent.clear()
    assert await hub.resync() == 2
    assert sorted(recorder.sent, key=str) == sorted(
        [
            ("watcher", "vendor_left", {"id": "gone"}),
            ("watcher", "vendor_sync", {"id": "new", "location": {"lat": NEW[0], "long": NEW[1]}}),
        ],
        key=str,
    )
    recorder.sent.clear()
    assert await hub.resync() == 0


async def test_a_move_during_the_read_is_not_undone(parts: Any) -> None:
    hub, bus, index, recorder = parts
    index.gate = asyncio.Event()
    resync = asyncio.ensure_future(hub.resync())
    await index.reading.wait()  # the snapshot of NEW's cell is taken (empty)...
    index.positions["v1"] = NEW  # ...and then the vendor arrives there
    await _live(bus, "v1", NEW)
    index.gate.set()
    assert await resync == 0
    assert [event for _, event, _ in recorder.sent] == ["vendor_sync"]


async def test_resync_runs_in_the_gateway(backend_settings: Any) -> None:
    from tests.realtime.harness import realtime_settings, running

    settings = realtime_settings(backend_settings, resync_seconds=0.2)
    async with running(settings) as server:
        owner = subject()
        vendor_id = await server.vendor(owner)
        await _in_index(server, vendor_id)
        async with client(server, "/user", server.token(subject())) as user:
            await user.emit("updateUserLocation", box((52.50, 13.38), (52.54, 13.43)))
            assert [c["id"] for c in await user.next("vendor_channels")] == [vendor_id]
            # removed from the index without a word on the bus (as if the message was lost)
            await server.app.geo.remove(vendor_id)
            assert await user.next("vendor_left") == {"id": vendor_id}


async def _in_index(server: Server, vendor_id: str) -> None:
    await server.app.geo.set(vendor_id, OLD[0], OLD[1])


async def test_a_departure_during_the_read_is_not_undone(parts: Any) -> None:
    hub, bus, index, recorder = parts
    index.positions["v1"] = NEW
    await _live(bus, "v1", NEW)
    index.gate = asyncio.Event()
    resync = asyncio.ensure_future(hub.resync())
    await index.reading.wait()  # the snapshot still has the vendor...
    del index.positions["v1"]  # ...which then goes offline
    await bus.publish(gone_subject(PREFIX, encode(*NEW, 5), "v1"), b'{"vendorId": "v1"}')
    await bus.flush()
    index.gate.set()
    assert await resync == 0
    assert [event for _, event, _ in recorder.sent] == ["vendor_sync", "vendor_left"]
