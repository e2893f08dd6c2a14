"""Which ``vendor_sync`` carries a pin: the hub alone, on the in-process bus, with every frame
recorded. A vendor coming into a user's view is sent as a pin; a move of a vendor the user sees
already (within a cell, or crossing between two cells the user watches) as ``{id, location}``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.realtime.harness import plain_session
from tests.realtime.test_cell_crossing import NEW, OLD, OUTSIDE, PREFIX, VIEW, Recorder
from venta_core.domain import BoundingBox, Location, VendorCluster, VendorPosition
from venta_core.domain.cells import encode
from venta_core.events import live_subject
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.metrics import RealtimeMetrics

PIN = {"name": "Curry 36", "open": True, "primaryImage": None}


class Index:
    """Stands in for the location service: no vendors to load, clusters of ``points``."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self.asked: list[tuple[BoundingBox, int]] = []

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        return []

    async def vendor_clusters(self, box: BoundingBox, precision: int) -> list[VendorCluster]:
        self.asked.append((box, precision))
        cells: dict[str, list[tuple[float, float]]] = {}
        for lat, long in self.points:
            if box.contains(lat, long):
                cells.setdefault(encode(lat, long, precision), []).append((lat, long))
        return [
            VendorCluster(
                cell=cell,
                count=len(ps),
                location=Location(
                    lat=sum(p[0] for p in ps) / len(ps), long=sum(p[1] for p in ps) / len(ps)
                ),
            )
            for cell, ps in sorted(cells.items())
        ]


async def _live(bus: MemoryEventBus, cell_of: tuple[float, float], at: tuple[float, float]) -> None:
    body = {"vendorId": "v1", "lat": at[0], "long": at[1], "at": "2026-12-06T03:00:00Z", "pin": PIN}
    await bus.publish(live_subject(PREFIX, encode(*cell_of, 5), "v1"), json.dumps(body).encode())
    await bus.flush()


@pytest.fixture
async def hub() -> Any:
    bus = MemoryEventBus()
    await bus.start()
    recorder = Recorder()
    index = Index()
    hub = CellHub(
        bus=bus,
        locations=index,  # type: ignore[arg-type]
        sender=recorder,  # type: ignore[arg-type]
        metrics=RealtimeMetrics(CollectorRegistry()),
        prefix=PREFIX,
        precision=5,
        max_cells=256,
        max_vendors=100,
        max_pins=2,
    )
    yield hub, bus, recorder, index
    await hub.close()
    await bus.stop()


def _pin(pos: tuple[float, float]) -> dict[str, Any]:
    return {
        "id": "v1",
        "location": {"lat": pos[0], "long": pos[1]},
        **PIN,
        "updatedAt": "2026-12-06T03:00:00Z",
    }


def _move(pos: tuple[float, float]) -> dict[str, Any]:
    return {"id": "v1", "location": {"lat": pos[0], "long": pos[1]}}


@pytest.mark.parametrize("arrival_first", [True, False])
async def test_entering_is_a_pin_and_moves_in_view_are_not(hub: Any, arrival_first: bool) -> None:
    cells, bus, recorder, _ = hub
    await cells.set_view(plain_session("w"), VIEW)

    await _live(bus, OLD, OLD)  # comes online in view
    assert recorder.sent == [("w", "vendor_sync", _pin(OLD))]
    recorder.sent.clear()
    moved = (OLD[0] + 0.001, OLD[1])
    await _live(bus, OLD, moved)
    assert recorder.sent == [("w", "vendor_sync", _move(moved))]
    recorder.sent.clear()

    # into the watched edge cell: still in view, a move
    for cell in [NEW, OLD] if arrival_first else [OLD, NEW]:
        await _live(bus, cell, NEW)
    assert recorder.sent == [("w", "vendor_sync", _move(NEW))]
    recorder.sent.clear()

    # out of view inside the edge cell, then back in: it enters again
    await _live(bus, NEW, OUTSIDE)
    await _live(bus, NEW, NEW)
    assert recorder.sent == [
        ("w", "vendor_left", {"id": "v1"}),
        ("w", "vendor_sync", _pin(NEW)),
    ]


async def test_coming_from_an_unwatched_cell_is_a_pin(hub: Any) -> None:
    cells, bus, recorder, _ = hub
    small = BoundingBox(sw=Location(lat=52.53, long=13.42), ne=Location(lat=52.54, long=13.43))
    await cells.set_view(plain_session("edge-only"), small)
    await _live(bus, NEW, NEW)
    assert recorder.sent == [("edge-only", "vendor_sync", _pin(NEW))]


async def test_a_profile_change_goes_to_those_who_see_the_vendor(hub: Any) -> None:
    cells, bus, recorder, _ = hub
    await cells.set_view(plain_session("sees"), VIEW)
    north = BoundingBox(sw=Location(lat=52.541, long=13.42), ne=Location(lat=52.55, long=13.43))
    await cells.set_view(plain_session("not"), north)  # watches NEW's cell, not the vendor
    await _live(bus, NEW, NEW)
    recorder.sent.clear()

    assert cells.vendor_changed("v1", "Curry 37", False, "https://img.example/c.jpg") == 1
    (sid, event, data), *_ = recorder.sent
    assert (sid, event) == ("sees", "vendor_sync")
    assert data["name"] == "Curry 37" and data["open"] is False
    assert data["primaryImage"] == "https://img.example/c.jpg" and data["location"]["lat"] == NEW[0]
    assert cells.vendor_changed("v1", "Curry 37", False, "https://img.example/c.jpg") == 0
    assert cells.vendor_changed("unknown", "X", True, None) == 0


async def test_too_many_pins_or_cells_is_clusters_until_zoomed_in(hub: Any) -> None:
    cells, bus, recorder, index = hub
    user = plain_session("u")
    world = BoundingBox(sw=Location(lat=-80, long=-170), ne=Location(lat=80, long=170))
    index.points = [(52.52, 13.40), (52.50, 13.30), (48.85, 2.35)]
    event, items = await cells.view(user, world)
    assert event == "vendor_clusters"
    (item,) = items  # precision 1 for the world: all three in cell "u"
    assert (item["cell"], item["count"]) == ("u", 3)
    assert item["location"]["lat"] == pytest.approx((52.52 + 52.50 + 48.85) / 3)
    assert not user.cells and "u" in cells.clustered

    assert await cells.refresh_clusters() == 0  # unchanged: nothing sent
    index.points.append((52.4, 13.1))
    assert await cells.refresh_clusters() == 1
    assert recorder.sent[-1][1] == "vendor_clusters"
    assert [c["count"] for c in recorder.sent[-1][2]] == [4]

    await _live(bus, OLD, OLD)  # a clustered view follows no vendor
    assert [s for s in recorder.sent if s[1] == "vendor_sync"] == []

    event, items = await cells.view(user, VIEW)
    assert (event, items) == ("vendor_channels", [])
    assert "u" not in cells.clustered and user.cells
    await _live(bus, OLD, OLD)  # followed again
    assert recorder.sent[-1] == ("u", "vendor_sync", _pin(OLD))


async def test_a_dense_viewport_is_clusters(hub: Any) -> None:
    cells, bus, _, index = hub
    watcher = plain_session("w")
    await cells.set_view(watcher, VIEW)  # pins whatever their number
    for i in range(3):  # max_pins is 2
        body = {"vendorId": f"d{i}", "lat": OLD[0] + i * 1e-3, "long": OLD[1], "pin": PIN}
        await bus.publish(live_subject(PREFIX, encode(*OLD, 5), f"d{i}"), json.dumps(body).encode())
    await bus.flush()
    assert len(await cells.set_view(watcher, VIEW)) == 3
    index.points = [(OLD[0] + i * 1e-3, OLD[1]) for i in range(3)]
    event, items = await cells.view(plain_session("dense"), VIEW)
    assert event == "vendor_clusters" and sum(c["count"] for c in items) == 3
    (box, precision) = index.asked[-1]
    assert box.sw.lat <= VIEW.sw.lat and box.ne.lat >= VIEW.ne.lat  # snapped out to whole cells
    assert all(len(c["cell"]) == precision for c in items)


async def test_viewports_of_one_area_are_counted_together(hub: Any) -> None:
    cells, _, recorder, index = hub
    index.points = [(52.52, 13.40), (52.45, 13.2), (48.85, 2.35)]
    berlin = [
        BoundingBox(sw=Location(lat=51.0 + i * 0.1, long=12.0), ne=Location(lat=54.0, long=15.0))
        for i in range(5)
    ]
    paris = BoundingBox(sw=Location(lat=47.0, long=0.0), ne=Location(lat=50.0, long=4.0))
    for i, box in enumerate([*berlin, paris]):
        await cells.view(plain_session(f"s{i}"), box)
    index.points.append((52.51, 13.39))
    index.asked.clear()
    assert await cells.refresh_clusters() == 5  # the Berlin viewports changed, Paris did not
    assert len(index.asked) <= 3  # not one count per viewport
    assert {sid for sid, event, _ in recorder.sent if event == "vendor_clusters"} == {
        f"s{i}" for i in range(5)
    }
