"""A process that falls behind sends each vendor's latest state once (coalescing), and a batch
of updates fanned out together reaches each watcher in one write (corking).

The hub is driven through the in-process bus: messages published without a pass of the event
loop between them are all waiting when the fan-out runs, as under load."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from tests.realtime.harness import plain_session
from tests.realtime.test_cell_crossing import NEW, OLD, OUTSIDE, PREFIX, VIEW, NoVendors, Recorder
from venta_core.domain import BoundingBox, Location
from venta_core.domain.cells import encode
from venta_core.events import gone_subject, live_subject
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.transports.realtime.fanout import Sender
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.protocol import USER_NS, Outgoing
from venta_core.transports.realtime.session import Session
from venta_core.transports.realtime.wire import WireSocket

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def _live(
    bus: MemoryEventBus, vid: str, cell_of: tuple[float, float], pos: tuple[float, float], t: float
) -> None:
    body = json.dumps({"vendorId": vid, "lat": pos[0], "long": pos[1], "at": _at(t)}).encode()
    await bus.publish(live_subject(PREFIX, encode(*cell_of, 5), vid), body)


async def _move(
    bus: MemoryEventBus, vid: str, old: Any, new: tuple[float, float], t: float
) -> None:
    """Publish a move as the location service does: the new cell, then the old one."""
    await _live(bus, vid, new, new, t)
    if old is not None and encode(*old, 5) != encode(*new, 5):
        await _live(bus, vid, old, new, t)


async def _settled(cells: CellHub, bus: MemoryEventBus) -> None:
    """Every message published so far handed to the hub, and fanned out."""
    await bus.flush()
    await cells.fanned_out()


def _metric(metrics: RealtimeMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


@pytest.fixture(params=[True, False], ids=["coalesce", "every-position"])
async def hub(request: pytest.FixtureRequest) -> Any:
    bus = MemoryEventBus()
    await bus.start()
    recorder = Recorder()
    metrics = RealtimeMetrics(CollectorRegistry())
    hub = CellHub(
        bus=bus,
        locations=NoVendors(),  # type: ignore[arg-type]
        sender=recorder,  # type: ignore[arg-type]
        metrics=metrics,
        prefix=PREFIX,
        precision=5,
        max_cells=256,
        max_vendors=100,
        coalesce=request.param,
    )
    yield hub, bus, recorder, metrics, request.param
    await hub.close()
    await bus.stop()


def _syncs(recorder: Recorder, vid: str) -> list[tuple[float, float]]:
    return [
        (data["location"]["lat"], data["location"]["long"])
        for _, event, data in recorder.sent
        if event == "vendor_sync" and data["id"] == vid
    ]


async def test_a_burst_of_moves_is_sent_once_with_the_latest_position(hub: Any) -> None:
    cells, bus, recorder, metrics, coalesce = hub
    await cells.set_view(plain_session("watcher"), VIEW)
    await _live(bus, "v1", OLD, OLD, 0)
    await _live(bus, "v2", OLD, OLD, 0)
    await _settled(cells, bus)
    recorder.sent.clear()

    steps = [(OLD[0], OLD[1] + i * 1e-4) for i in range(1, 11)]
    for i, pos in enumerate(steps, start=1):
        await _live(bus, "v1", OLD, pos, i)
        await _live(bus, "v2", OLD, pos, i)
    await asyncio.sleep(0)  # the bus hands the messages over; the fan-out is yet to run
    assert cells.backlog() == (2 if coalesce else 20)
    await _settled(cells, bus)

    assert cells.backlog() == 0
    if coalesce:
        assert _syncs(recorder, "v1") == _syncs(recorder, "v2") == [steps[-1]]
        assert _metric(metrics, "venta_ws_coalesced_total") == 18
    else:
        assert _syncs(recorder, "v1") == _syncs(recorder, "v2") == steps
        assert _metric(metrics, "venta_ws_coalesced_total") == 0
    assert _metric(metrics, "venta_ws_fanout_latency_seconds_count") == (4 if coalesce else 22)


async def test_an_older_message_never_replaces_a_newer_position(hub: Any) -> None:
    """Each cell is its own subscription, so the old cell's copy of a move may come after the
    vendor's next move: its older position must not win."""
    cells, bus, recorder, _, _ = hub
    await cells.set_view(plain_session("watcher"), VIEW)
    await _live(bus, "v1", OLD, OLD, 0)
    await _settled(cells, bus)
    recorder.sent.clear()

    later = (NEW[0] - 1e-3, NEW[1])
    await _live(bus, "v1", NEW, NEW, 1)  # arrival in the new cell
    await _live(bus, "v1", NEW, later, 2)  # the next move, within it
    await _live(bus, "v1", OLD, NEW, 1)  # the old cell's copy of the first move, late
    await _settled(cells, bus)

    assert _syncs(recorder, "v1")[-1] == later
    assert cells.cells[encode(*NEW, 5)].members["v1"] == later
    assert "v1" not in cells.cells[encode(*OLD, 5)].members


async def test_crossing_two_cells_in_one_burst_leaves_no_stale_pin(hub: Any) -> None:
    """A watcher of the first two cells only: the vendor moves through both to an unwatched
    third within one burst; it is told the vendor left, whatever was skipped."""
    cells, bus, recorder, _, _ = hub
    small = BoundingBox(sw=Location(lat=52.505, long=13.385), ne=Location(lat=52.54, long=13.43))
    await cells.set_view(plain_session("watcher"), small)
    await _live(bus, "v1", OLD, OLD, 0)
    await _settled(cells, bus)
    recorder.sent.clear()

    far = (52.60, 13.60)  # a cell nobody here watches
    await _move(bus, "v1", OLD, NEW, 1)
    await _move(bus, "v1", NEW, far, 2)
    await _settled(cells, bus)

    assert recorder.sent[-1] == ("watcher", "vendor_left", {"id": "v1"})
    assert all("v1" not in cell.members for cell in cells.cells.values())


async def test_offline_then_back_in_one_burst_ends_present(hub: Any) -> None:
    cells, bus, recorder, _, coalesce = hub
    await cells.set_view(plain_session("watcher"), VIEW)
    await _live(bus, "v1", NEW, NEW, 0)
    await _settled(cells, bus)
    recorder.sent.clear()

    gone = json.dumps({"vendorId": "v1", "at": _at(1)}).encode()
    await bus.publish(gone_subject(PREFIX, encode(*NEW, 5), "v1"), gone)
    await _live(bus, "v1", NEW, OUTSIDE, 2)
    await _live(bus, "v1", NEW, NEW, 3)
    await _settled(cells, bus)

    assert cells.cells[encode(*NEW, 5)].members["v1"] == NEW
    events = [event for _, event, _ in recorder.sent]
    if coalesce:  # the watcher's map already shows the vendor at NEW
        assert events == ["vendor_sync"]
    else:
        assert events == ["vendor_left", "vendor_sync"]


class _Transport:
    """A websocket's transport that keeps what is written; ``unsent`` bytes pretend to wait."""

    def __init__(self, unsent: int = 0) -> None:
        self.writes: list[bytes] = []
        self.unsent = unsent

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def _sender() -> tuple[Sender, Counter]:
    registry = CollectorRegistry()
    deliveries = Counter("d", "deliveries", ("path",), registry=registry)
    conflated = Counter("c", "conflated", registry=registry)
    sender = Sender(
        None,
        None,  # type: ignore[arg-type]
        max_buffer_bytes=1 << 20,
        on_slow=lambda session: None,
        deliveries=deliveries,
        conflate_above_bytes=4096,
        conflated=conflated,
    )
    return sender, conflated


def _on(session: Session, transport: _Transport) -> Session:
    wire = WireSocket(None, None)
    wire.transport = transport
    session.wire = wire
    return session


def _sync(vid: str, long: float) -> Outgoing:
    return Outgoing(USER_NS, "vendor_sync", {"id": vid, "location": {"lat": 52.5, "long": long}})


async def test_a_corked_batch_is_one_write_per_session_in_order() -> None:
    sender, _ = _sender()
    a, b = _Transport(), _Transport()
    one, two = _on(plain_session("one"), a), _on(plain_session("two"), b)
    left = Outgoing(USER_NS, "vendor_left", {"id": "v1"})

    sender.cork()
    assert sender.deliver([one, two], _sync("v1", 13.1)) == 2
    sender.deliver([one], _sync("v2", 13.2))
    sender.push(one, left)
    assert a.writes == b.writes == []
    sender.uncork()

    assert a.writes == [_sync("v1", 13.1).frame + _sync("v2", 13.2).frame + left.frame]
    assert b.writes == [_sync("v1", 13.1).frame]
    assert one.left is not None and "v1" in one.left  # a vendor_left is remembered as pushed

    sender.deliver([one], _sync("v1", 13.3))  # uncorked: written at once
    assert a.writes[-1] == _sync("v1", 13.3).frame


async def test_a_corked_batch_to_a_slow_session_is_conflated() -> None:
    sender, conflated = _sender()
    slow = _Transport(unsent=8192)
    session = _on(plain_session("slow"), slow)

    sender.cork()
    for long in (13.1, 13.2, 13.3):
        sender.deliver([session], _sync("v1", long))
    sender.uncork()

    assert slow.writes == []  # no room: the frames wait in the session's backlog
    assert session.backlog is not None and len(session.backlog) == 1
    assert conflated._value.get() == 2
    slow.unsent = 0
    sender.deliver([session], _sync("v1", 13.4))  # it caught up: the latest is written
    assert slow.writes == [_sync("v1", 13.4).frame]
    await sender.drain()
