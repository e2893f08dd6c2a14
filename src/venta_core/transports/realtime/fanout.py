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
#: How often backlogs are written out for conflated clients that get no new frames.
DRAIN_INTERVAL_SECONDS = 0.05


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
        self._backlogged: dict[Session, None] = {}
        self._drainer: asyncio.Task[None] | None = None
        self._last_out: Outgoing | None = None
        self._last_state: tuple[str, str] | None = None
        self._corked: dict[Session, list[Outgoing]] | None = None

    def deliver(self, sessions: Iterable[Session], out: Outgoing) -> int:
        """Send ``out`` to every session; returns how many were addressed."""
        if self._corked is not None:
            return self._hold(sessions, out)
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
        if self._corked is not None:
            self._hold((session,), out)
            return
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

    # -- corking: many frames to a session in one write ---------------------------------------

    def cork(self) -> None:
        """Hold what ``deliver`` and ``push`` are given until ``uncork``, which writes each
        session's frames in one go. For a batch of updates fanned out together (the process
        fell behind): one write per watcher instead of one per watcher and update."""
        if self._corked is None:
            self._corked = {}

    def _hold(self, sessions: Iterable[Session], out: Outgoing) -> int:
        corked = self._corked
        assert corked is not None
        count = 0
        for session in sessions:
            count += 1
            held = corked.get(session)
            if held is None:
                corked[session] = [out]
            else:
                held.append(out)
        return count

    def uncork(self) -> None:
        """Write what was held since ``cork``, in order per session: one write per session
        that is on the direct path with room; the rest go through ``push`` one by one."""
        corked, self._corked = self._corked, None
        if not corked:
            return
        limit = self._soft
        direct = 0
        for session, outs in corked.items():
            transport = session.wire.transport
            if transport is not None and not session.closed:
                try:
                    if transport.get_write_buffer_size() <= limit:
                        for out in outs:
                            if out.text.startswith(_LEFT):
                                self._told_left(session, out)
                        transport.write(
                            outs[0].frame if len(outs) == 1 else b"".join(o.frame for o in outs)
                        )
                        direct += len(outs)
                        continue
                except (RuntimeError, OSError):  # closed under us: the disconnect follows
                    continue
            for out in outs:
                self.push(session, out)
        if direct:
            self._direct.inc(direct)

    def _state(self, out: Outgoing) -> tuple[str, str] | None:
        """``conflate.vendor_state(out)``, decoded once for the many sessions a frame reaches."""
        if out is not self._last_out:
            self._last_out, self._last_state = out, vendor_state(out)
        return self._last_state

    def _told_left(self, session: Session, out: Outgoing) -> None:
        state = self._state(out)
        if state is None:
            return
        left = session.left
        if left is None:
            left = session.left = {}
        left.pop(state[0], None)
        left[state[0]] = None
        if len(left) > MAX_LEFT:
            del left[next(iter(left))]

    # -- conflation (see ``conflate``) ---------------------------------------------------------

    def _start_backlog(self, session: Session, out: Outgoing) -> None:
        session.backlog = Backlog(session.wire)
        session.wire = NO_WIRE  # off the fast path: ``deliver`` hands its frames to ``push``
        self._backlogged[session] = None
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain_forever())
        self._conflate(session, session.backlog, out)

    def _conflate(self, session: Session, backlog: Backlog, out: Outgoing) -> None:
        replaced = backlog.add(out, self._state(out))
        if replaced and self._conflated is not None:
            self._conflated.inc(replaced)
        transport = backlog.wire.transport
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        if unsent + backlog.size > self._max_buffer:
            self._on_slow(session)
        elif unsent < self._soft:
            self._flush(session, backlog)

    def _flush(self, session: Session, backlog: Backlog) -> None:
        """Write out as much of the backlog as the connection has room for (oldest first);
        back to the fast path once it is empty."""
        transport = backlog.wire.transport
        if transport is None or session.closed:  # closed: the disconnect follows
            self._backlogged.pop(session, None)
            return
        try:
            room = self._soft - transport.get_write_buffer_size()
            if room <= 0:
                return
            frames = backlog.take(room)
            if frames:
                transport.write(b"".join(frames))
                self._direct.inc(len(frames))
        except (RuntimeError, OSError):
            self._backlogged.pop(session, None)
            return
        if not len(backlog):
            session.backlog = None
            session.wire = backlog.wire
            self._backlogged.pop(session, None)

    async def _drain_forever(self) -> None:
        """Flush every backlog now and then, for clients that get no new frames (a backlog is
        also flushed whenever a frame is added to it). Ends when no backlog is left."""
        while self._backlogged:
            await asyncio.sleep(DRAIN_INTERVAL_SECONDS)
            for session in list(self._backlogged):
                backlog = session.backlog
                if backlog is None:
                    self._backlogged.pop(session, None)
                else:
                    self._flush(session, backlog)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
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
        if self._drainer is not None:
            self._drainer.cancel()
            self._backlogged.clear()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
