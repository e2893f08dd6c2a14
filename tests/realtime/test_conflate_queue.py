"""The conflating backlog of a slow client: the latest frame per vendor, in place, in order."""

from __future__ import annotations

import json
from typing import Any

from venta_core.transports.realtime.conflate import ENTER, LEFT, MOVE, Backlog, vendor_state
from venta_core.transports.realtime.protocol import USER_NS, Outgoing


def sync(vid: str, long: float, **pin: Any) -> Outgoing:
    return Outgoing(
        USER_NS, "vendor_sync", {"id": vid, "location": {"lat": 52.5, "long": long}, **pin}
    )


def left(vid: str) -> Outgoing:
    return Outgoing(USER_NS, "vendor_left", {"id": vid})


def events(frames: list[bytes]) -> list[list[Any]]:
    """Each websocket frame's Socket.IO event, decoded: ``[name, data]``."""
    out = []
    for frame in frames:
        payload = frame[2:] if frame[1] < 126 else frame[4:]
        text = payload.decode()
        assert text.startswith("42/user,"), text
        out.append(json.loads(text[len("42/user,") :]))
    return out


def summary(frames: list[bytes]) -> list[tuple[str, str, float | None]]:
    return [
        (name, data["id"] if isinstance(data, dict) else "", _long(data))
        for name, data in events(frames)
    ]


def _long(data: Any) -> float | None:
    if isinstance(data, dict) and "location" in data:
        return float(data["location"]["long"])
    return None


def add(backlog: Backlog, out: Outgoing) -> int:
    return backlog.add(out, vendor_state(out))


def test_vendor_state_reads_vendor_events_only() -> None:
    assert vendor_state(sync("a", 13.4)) == ("a", MOVE)
    assert vendor_state(sync("a", 13.4, name="Tacos", open=True)) == ("a", ENTER)
    assert vendor_state(left("a")) == ("a", LEFT)
    assert vendor_state(Outgoing(USER_NS, "vendor_channels", [{"id": "a"}])) is None
    assert vendor_state(Outgoing(USER_NS, "error", {"code": "X", "message": "m"})) is None
    assert vendor_state(Outgoing(USER_NS, "vendor_sync", {"location": {}})) is None


def test_a_newer_move_replaces_the_older_in_place() -> None:
    backlog = Backlog()
    assert add(backlog, sync("a", 13.401)) == 0
    assert add(backlog, sync("b", 13.501)) == 0
    assert add(backlog, sync("a", 13.402)) == 1
    assert add(backlog, sync("a", 13.403)) == 1
    assert len(backlog) == 2
    # "a" keeps its place in the queue (before "b"), with its latest position
    assert summary(backlog.take(1 << 20)) == [
        ("vendor_sync", "a", 13.403),
        ("vendor_sync", "b", 13.501),
    ]
    assert len(backlog) == 0 and backlog.size == 0


def test_left_replaces_moves_and_reentry_replaces_left() -> None:
    backlog = Backlog()
    add(backlog, sync("a", 13.401))
    assert add(backlog, left("a")) == 1
    assert summary(backlog.take(1 << 20)) == [("vendor_left", "a", None)]
    add(backlog, left("a"))
    assert add(backlog, sync("a", 13.7, name="Tacos")) == 1
    assert summary(backlog.take(1 << 20)) == [("vendor_sync", "a", 13.7)]


def test_a_move_never_drops_the_pin_of_an_entering_vendor() -> None:
    backlog = Backlog()
    add(backlog, sync("a", 13.401, name="Tacos", open=True))
    assert add(backlog, sync("a", 13.402)) == 0  # second slot, after the pin
    assert add(backlog, sync("a", 13.403)) == 1  # replaces the move, not the pin
    got = events(backlog.take(1 << 20))
    assert [data.get("name") for _, data in got] == ["Tacos", None]
    assert [data["location"]["long"] for _, data in got] == [13.401, 13.403]


def test_other_events_are_kept_and_are_barriers() -> None:
    backlog = Backlog()
    add(backlog, sync("a", 13.401))
    channels = Outgoing(USER_NS, "vendor_channels", [{"id": "a", "location": {}}])
    assert add(backlog, channels) == 0
    error = Outgoing(USER_NS, "error", {"code": "RATE_LIMITED", "message": "slow down"})
    assert add(backlog, error) == 0
    # after a barrier a move takes a new slot: it must not jump before the vendor_channels
    assert add(backlog, sync("a", 13.402)) == 0
    assert add(backlog, sync("a", 13.403)) == 1
    names = [name for name, _ in events(backlog.take(1 << 20))]
    assert names == ["vendor_sync", "vendor_channels", "error", "vendor_sync"]


def test_take_respects_the_budget_and_counts_bytes() -> None:
    backlog = Backlog()
    frames = [sync(f"v{i}", 13.4) for i in range(5)]
    for out in frames:
        add(backlog, out)
    assert backlog.size == sum(len(out.frame) for out in frames)
    first = backlog.take(len(frames[0].frame) * 2)
    assert len(first) == 2
    assert backlog.size == sum(len(out.frame) for out in frames[2:])
    assert len(backlog.take(1)) == 1  # at least one frame, whatever the budget
    assert len(backlog.take(1 << 20)) == 2
