"""Conflation: what a client that does not keep up receives instead of everything.

A watcher normally gets every frame at once (``fanout.Sender``). When its connection's unsent
data grows past ``VENTA_REALTIME__CONFLATE_ABOVE_BYTES`` (the client stopped reading, its
network is slow, or this process fell behind), writing more would only queue older and older
positions. From then on the session's frames go to a ``Backlog`` instead of the socket, which
keeps **the latest frame per vendor**: a newer move of a vendor replaces the older queued one in
place (where it stood in the queue), a ``vendor_left`` replaces the vendor's queued moves, and a
vendor that re-enters replaces its queued ``vendor_left``. The client sees fewer, newer
positions, never an older one after a newer one. Each replaced frame is counted in
``venta_ws_conflated_total``.

Frames that are no vendor's state (``vendor_channels``, ``error``, anything else) are never
dropped, and are barriers: vendor frames queued before one are not replaced by frames that
came after it, so the order of the two stays what the server sent.

One rule keeps pins intact: the ``vendor_sync`` of a vendor entering the view carries its pin
fields (name, image, ...), a move only ``{id, location}``. A move never replaces a queued entry
with pin fields: it takes a second slot after it, so the client learns the pin, then the latest
position.

While a backlog exists the session is taken off the fast path (its ``wire`` is set aside), so
the fan-out's per-recipient loop does no extra work for conflation: the frames reach ``push``,
which adds them here. The backlog is written out, oldest first, as the connection's buffer
empties (whenever a frame is added, and by one periodic task of the sender for all backlogs),
and the session goes back on the fast path when nothing is left. A client whose
buffered plus backlogged data passes ``VENTA_REALTIME__MAX_SEND_BUFFER_BYTES`` is disconnected.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

from venta_core.transports.realtime.protocol import Outgoing

__all__ = ["ENTER", "LEFT", "MOVE", "Backlog", "vendor_state"]

LEFT = "left"
MOVE = "move"
ENTER = "enter"

_PLAIN = frozenset({"id", "location"})


def vendor_state(out: Outgoing) -> tuple[str, str] | None:
    """``(vendor id, LEFT | MOVE | ENTER)`` when ``out`` is a vendor's state (``vendor_sync`` or
    ``vendor_left``), else ``None``. Only called for clients being conflated (it decodes)."""
    text = out.text
    start = text.find(",[")
    if start < 0:
        return None
    try:
        body: Any = json.loads(text[start + 1 :])
    except ValueError:
        return None
    if not isinstance(body, list) or len(body) < 2 or not isinstance(body[1], dict):
        return None
    event, data = body[0], body[1]
    vid = data.get("id")
    if not isinstance(vid, str):
        return None
    if event == "vendor_left":
        return vid, LEFT
    if event == "vendor_sync":
        return vid, (MOVE if data.keys() <= _PLAIN else ENTER)
    return None


class Backlog:
    """Frames waiting for one slow client, the latest per vendor (see the module docstring)."""

    __slots__ = ("_epoch", "_frames", "_kinds", "_seq", "size", "wire")

    def __init__(self, wire: Any = None) -> None:
        #: the session's websocket while it is off the fast path
        self.wire = wire
        self.size = 0
        self._frames: dict[Hashable, bytes] = {}
        self._kinds: dict[Hashable, str] = {}
        self._epoch = 0
        self._seq = 0

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, out: Outgoing, state: tuple[str, str] | None) -> int:
        """Queue ``out`` (``state``: its ``vendor_state``); how many queued frames it replaced."""
        frame = out.frame
        if state is None:
            self._epoch += 1
            self._seq += 1
            self._put(("b", self._seq), frame, "")
            return 0
        vid, kind = state
        main = (self._epoch, vid, 0)
        second = (self._epoch, vid, 1)
        if kind == MOVE and self._kinds.get(main) == ENTER:
            return self._put(second, frame, MOVE)
        return self._drop(second) + self._put(main, frame, kind)

    def take(self, budget: int) -> list[bytes]:
        """The oldest frames, up to ``budget`` bytes (at least one), removed from the backlog."""
        taken: list[bytes] = []
        used = 0
        for key in list(self._frames):
            frame = self._frames[key]
            if taken and used + len(frame) > budget:
                break
            del self._frames[key]
            self._kinds.pop(key, None)
            self.size -= len(frame)
            used += len(frame)
            taken.append(frame)
        return taken

    def _put(self, key: Hashable, frame: bytes, kind: str) -> int:
        old = self._frames.get(key)
        self._frames[key] = frame  # an existing key keeps its place: replaced in place
        if kind:
            self._kinds[key] = kind
        self.size += len(frame) - (len(old) if old is not None else 0)
        return 0 if old is None else 1

    def _drop(self, key: Hashable) -> int:
        old = self._frames.pop(key, None)
        if old is None:
            return 0
        self._kinds.pop(key, None)
        self.size -= len(old)
        return 1
