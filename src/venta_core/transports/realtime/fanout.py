"""Delivery of encoded events to sessions: the hot path of the gateway.

``Sender.deliver`` writes one pre-built websocket frame to every session of an iterable. Per
recipient that is two attribute loads, a buffer-size check and ``transport.write``: no encoding,
no queue, no task. Sessions without a usable websocket (still on long-polling, mid-upgrade, or
on a server where raw writes are not safe) take ``push``, which goes through python-socketio's
Engine.IO queue, as a stock emit would.

Both ways are counted in ``venta_ws_deliveries_total{path="direct"|"queued"}``: websocket
watchers counted as ``queued`` mean the direct path is not in use (a library upgrade changed
what ``wire.raw_transport`` recognises), and the fan-out has silently become the slow one.
The hot loop adds nothing per recipient for this: it counts the rare other cases and derives
the direct writes once per call.

A session whose connection has more than ``conflate_above`` bytes unsent is conflated: its
frames go to a ``conflate.Backlog`` (the latest per vendor) that a drain task writes out as the
connection catches up. Beyond ``max_buffer`` bytes (unsent plus backlog) it is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter

from venta_core.transports.realtime.conflate import Backlog, vendor_state
from venta_core.transports.realtime.protocol import Outgoing
from venta_core.transports.realtime.recovery import MAX_LEFT
from venta_core.transports.realtime.session import NO_WIRE, Session
from venta_core.transports.realtime.wire import WireRegistry

__all__ = ["Sender"]

log = logging.getLogger(__name__)

#: The start of a ``vendor_left`` packet: sessions remember whom they were told left (recovery).
_LEFT = '2/user,["vendor_left",'
#: How often a conflated session's backlog is written out while its client catches up.
DRAIN_INTERVAL_SECONDS = 0.02


class Sender:
    def __init__(
        self,
        eio: Any,
        wires: WireRegistry,
        max_buffer_bytes: int,
        on_slow: Callable[[Session], None],
        deliveries: Counter,
        *,
        conflate_above_bytes: int | None = None,
        conflated: Counter | None = None,
    ) -> None:
        """``eio``: python-engineio's ``AsyncServer`` (for sessions not on a websocket);
        ``deliveries``: the counter of deliveries by ``path``; ``conflated``: of frames replaced
        by newer ones for slow clients. ``conflate_above_bytes`` unsent bytes start a session's
        conflation (``None``: never, a session past ``max_buffer_bytes`` is disconnected)."""
        self._eio = eio
        self._wires = wires
        self._max_buffer = max_buffer_bytes
        self._soft = max_buffer_bytes if conflate_above_bytes is None else conflate_above_bytes
        self._on_slow = on_slow
        self._direct = deliveries.labels(path="direct")
        self._queued = deliveries.labels(path="queued")
        self._conflated = conflated
        self._tasks: set[asyncio.Task[Any]] = set()
        self._drains: set[asyncio.Task[Any]] = set()

    def deliver(self, sessions: Iterable[Session], out: Outgoing) -> int:
        """Send ``out`` to every session; returns how many were addressed."""
        frame = out.frame
        limit = self._soft
        count = 0
        other = 0  # not written here: pushed (and counted there), or closed under us
        for session in sessions:
            count += 1
            transport = session.wire.transport
            if transport is not None:
                try:
                    if transport.get_write_buffer_size() <= limit:
                        transport.write(frame)
                        continue
                except (RuntimeError, OSError):  # closed under us: the disconnect follows
                    other += 1
                    continue
            other += 1
            self.push(session, out)
        if count > other:
            self._direct.inc(count - other)
        return count

    def push(self, session: Session, out: Outgoing) -> None:
        """Send ``out`` to one session by whatever way it can be reached now."""
        if session.closed:
            return
        if out.text.startswith(_LEFT):
            self._told_left(session, out)
        if session.backlog is not None:
            self._conflate(session, session.backlog, out)
            return
        transport = session.wire.transport
        if transport is None:
            transport = self._attach(session)
        if transport is not None:
            try:
                if transport.get_write_buffer_size() > self._soft:
                    self._start_backlog(session, out)
                    return
                transport.write(out.frame)
            except (RuntimeError, OSError):
                log.debug("write to closed session %s dropped", session.sid)
            else:
                self._direct.inc()
            return
        self._queued.inc()
        self._spawn(self._eio.send_packet(session.eio_sid, out.eio_packet()))

    @staticmethod
    def _told_left(session: Session, out: Outgoing) -> None:
        state = vendor_state(out)
        if state is None:
            return
        left = session.left
        left.pop(state[0], None)
        left[state[0]] = None
        if len(left) > MAX_LEFT:
            del left[next(iter(left))]

    # -- conflation (see ``conflate``) ---------------------------------------------------------

    def _start_backlog(self, session: Session, out: Outgoing) -> None:
        backlog = session.backlog = Backlog(session.wire)
        session.wire = NO_WIRE  # off the fast path: ``deliver`` hands its frames to ``push``
        self._conflate(session, backlog, out)
        if session.backlog is backlog:
            self._spawn(self._drain_backlog(session, backlog), self._drains)

    def _conflate(self, session: Session, backlog: Backlog, out: Outgoing) -> None:
        replaced = backlog.add(out, vendor_state(out))
        if replaced and self._conflated is not None:
            self._conflated.inc(replaced)
        transport = backlog.wire.transport
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        if unsent + backlog.size > self._max_buffer:
            self._on_slow(session)

    async def _drain_backlog(self, session: Session, backlog: Backlog) -> None:
        """Write the backlog out as the connection's buffer empties; then back to the fast path."""
        wire = backlog.wire
        while not session.closed and session.backlog is backlog:
            await asyncio.sleep(DRAIN_INTERVAL_SECONDS)
            transport = wire.transport
            if transport is None:  # closed: the disconnect follows
                return
            try:
                room = self._soft - transport.get_write_buffer_size()
                if room <= 0:
                    continue
                frames = backlog.take(room)
                if frames:
                    transport.write(b"".join(frames))
                    self._direct.inc(len(frames))
            except (RuntimeError, OSError):
                return
            if not len(backlog):
                session.backlog = None
                session.wire = wire

    def _spawn(self, coro: Any, tasks: set[asyncio.Task[Any]] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        (self._tasks if tasks is None else tasks).add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._drains.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("queued send failed: %r", task.exception())

    def _attach(self, session: Session) -> Any:
        """Switch a session to its websocket once it is safe: the websocket is ready (for an
        upgrade from long-polling, the upgrade is complete) and the Engine.IO queue holds
        nothing older (the CONNECT packet, or frames sent while it was on long-polling)."""
        wire = self._wires.get(session.eio_sid)
        if wire is None or wire.transport is None:
            return None
        socket = getattr(self._eio, "sockets", {}).get(session.eio_sid)
        queue = getattr(socket, "queue", None)
        if socket is None or not getattr(socket, "upgraded", False):
            return None
        if queue is None or not queue.empty():
            return None
        session.wire = wire
        return wire.transport

    async def drain(self) -> None:
        """Wait for queued sends started so far; stop writing out backlogs."""
        for task in list(self._drains):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
