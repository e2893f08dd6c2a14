"""Cells watched by this process: bus subscriptions, the vendors in each, who watches them.

A user's viewport is rounded out to the geohash cells it touches. A cell is *fully* covered when
it lies inside the viewport: every vendor in it is in view, so a move there goes to all its full
watchers as one shared frame with no per-client test. A *partly* covered (edge) cell costs one
containment test per edge watcher. Each cell is subscribed on the bus once per process, however
many local users watch it (reference counted), and dropped when the last one stops.

Bus messages per cell (see docs/realtime.md):

- ``<prefix>.live.<cell>.<vendorId>`` ``{vendorId, lat, long, at, pin}``: the vendor is at
  (lat, long). A position *outside* ``<cell>`` means the vendor moved out of that cell. ``pin``
  (``{name, open, primaryImage}``, when known) is what a user it comes into view of is sent.
- ``<prefix>.gone.<cell>.<vendorId>`` ``{vendorId, at}``: the vendor went offline.

Every vendor seen is remembered with its cell, so a vendor that appears in another watched cell
leaves its old cell here even when no departure message arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from venta_core.domain import BoundingBox, Location, VendorPosition
from venta_core.domain.cells import cell_bounds, cells_covering, encode
from venta_core.domain.geo import haversine_raw
from venta_core.errors import ServiceUnavailable, ValidationFailed
from venta_core.observability import tracing
from venta_core.ports.bus import BusMessage, EventBus, Subscription
from venta_core.services.protocols import LocationService
from venta_core.transports.realtime.clusters import ClusterWatch, answer, watch_for
from venta_core.transports.realtime.fanout import Sender
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.protocol import USER_NS, Outgoing
from venta_core.transports.realtime.session import Session, in_rect, rect_of

__all__ = ["CellHub"]

log = logging.getLogger(__name__)

Position = tuple[float, float]
#: How long one pass of the event loop fans out queued vendor states before letting the loop
#: read sockets and messages again.
DRAIN_BUDGET_SECONDS = 0.01
#: What a pin shows beside the position: ``name``, ``open``, ``primaryImage``, ``updatedAt``.
Pin = dict[str, Any]
#: What ``set_view`` answers: the event (``vendor_channels`` or ``vendor_clusters``) and items.
View = tuple[str, list[dict[str, Any]]]


def _sync(vendor_id: str, lat: float, long: float) -> Outgoing:
    return Outgoing(
        USER_NS, "vendor_sync", {"id": vendor_id, "location": {"lat": lat, "long": long}}
    )


def _pin_item(vendor_id: str, lat: float, long: float, pin: Pin | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": vendor_id, "location": {"lat": lat, "long": long}}
    if pin is not None:
        item.update(pin)
    return item


def _pin_sync(vendor_id: str, lat: float, long: float, pin: Pin | None) -> Outgoing:
    """The ``vendor_sync`` of a vendor entering a view: its pin."""
    return Outgoing(USER_NS, "vendor_sync", _pin_item(vendor_id, lat, long, pin))


def _pin_fields(data: dict[str, Any]) -> Pin:
    """The pin fields of a live message (``{name, open, primaryImage}``), checked."""
    name, open_, image = data.get("name"), data.get("open"), data.get("primaryImage")
    return {
        "name": name if isinstance(name, str) else None,
        "open": open_ if isinstance(open_, bool) else None,
        "primaryImage": image if isinstance(image, str) else None,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _pin_of(position: VendorPosition) -> Pin | None:
    if position.name is None:
        return None
    at = position.updated_at
    return {
        "name": position.name,
        "open": bool(position.open),
        "primaryImage": position.primary_image,
        "updatedAt": _rfc3339(at) if at is not None else None,
    }


def _timestamp(at: Any) -> float | None:
    """Seconds since the epoch of a message's RFC 3339 ``at`` (None: absent or not one)."""
    if not isinstance(at, str):
        return None
    try:
        return datetime.fromisoformat(at).timestamp()
    except ValueError:
        return None


class _Move:
    """A vendor's latest state waiting for the fan-out: its position (None: offline), the
    watched cells whose subjects carried it (each is told; see ``_apply``), the ``at`` of the
    newest message and that message (its headers carry the trace context)."""

    __slots__ = ("at", "cells", "done", "message", "pos", "vid")

    def __init__(
        self,
        vid: str,
        pos: Position | None,
        cell: _Cell,
        at: float | None,
        message: BusMessage,
    ) -> None:
        self.vid = vid
        self.pos = pos
        self.cells = [cell]
        self.at = at
        self.message = message
        self.done = False


def _left(vendor_id: str) -> Outgoing:
    return Outgoing(USER_NS, "vendor_left", {"id": vendor_id})


class _Cell:
    __slots__ = (
        "bounds",
        "edge",
        "full",
        "members",
        "name",
        "pending",
        "ready",
        "refs",
        "subs",
        "touched",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.bounds = cell_bounds(name)
        self.members: dict[str, Position] = {}
        self.full: dict[str, Session] = {}
        self.edge: dict[str, Session] = {}
        self.refs = 0
        self.subs: list[Subscription] = []
        self.ready = asyncio.Event()
        self.pending: list[tuple[str, Position | None]] = []
        # vendors that arrived or left while a re-sync read the index (None: no re-sync running)
        self.touched: set[str] | None = None

    def box(self) -> BoundingBox:
        s, w, n, e = self.bounds
        return BoundingBox(sw=Location(lat=s, long=w), ne=Location(lat=n, long=e))

    def contains(self, lat: float, long: float) -> bool:
        s, w, n, e = self.bounds
        return (s <= lat < n or lat == n == 90.0) and (w <= long < e or long == e == 180.0)


class CellHub:
    def __init__(
        self,
        *,
        bus: EventBus,
        locations: LocationService,
        sender: Sender,
        metrics: RealtimeMetrics,
        prefix: str,
        precision: int,
        max_cells: int,
        max_vendors: int,
        max_pins: int | None = None,
        max_clusters: int = 256,
        coalesce: bool = True,
    ) -> None:
        """``max_pins``: a viewport holding more vendors is answered with clusters, as one
        covering more than ``max_cells`` cells is (None: ``max_vendors``); clusters are cells
        of the finest precision at which the viewport covers at most ``max_clusters``."""
        self._bus = bus
        self._locations = locations
        self._sender = sender
        self._metrics = metrics
        self._prefix = prefix
        self._precision = precision
        self._max_cells = max_cells
        self._max_vendors = max_vendors
        self._max_pins = max_vendors if max_pins is None else max_pins
        self._max_clusters = max_clusters
        self.cells: dict[str, _Cell] = {}
        #: vendor -> its pin fields (vendors of watched cells whose profile is known)
        self.pins: dict[str, Pin] = {}
        #: sid -> sessions answered with clusters
        self.clustered: dict[str, ClusterWatch] = {}
        #: vendor -> sessions that saw it in the cell it left, for its arrival in a cell they
        #: watch too (the departure came first): to them the arrival is a move, not an entry
        self._handed_over: dict[str, set[str]] = {}
        self._refresh: asyncio.Task[None] | None = None
        self.vendor_cell: dict[str, str] = {}
        self._opening: set[asyncio.Task[None]] = set()
        # vendor states waiting for the fan-out (see ``_receive``): keyed by vendor with
        # ``coalesce``, else by arrival; ``_batch`` is the part being drained by ``_cursor``
        self._coalesce = coalesce
        self._inbox: dict[Any, _Move] = {}
        self._batch: dict[Any, _Move] = {}
        self._cursor: Iterator[_Move] | None = None
        self._idle = asyncio.Event()  # cleared while a fan-out pass is scheduled
        self._idle.set()
        self._seq = 0

    # -- viewports -----------------------------------------------------------------------------

    def cover(self, box: BoundingBox) -> tuple[frozenset[str], frozenset[str]]:
        """(fully covered, partly covered) cells of ``box``; too many is a validation error."""
        full: set[str] = set()
        edge: set[str] = set()
        for s, w, n, e in box.parts():
            cells = cells_covering(s, w, n, e, self._precision)
            if cells is None or len(cells) > self._max_cells:
                raise self._too_large()
            for cell in cells:
                cs, cw, cn, ce = cell_bounds(cell)
                inside = s <= cs and cn <= n and w <= cw and ce <= e
                (full if inside else edge).add(cell)
        edge -= full
        if len(full) + len(edge) > self._max_cells:
            raise self._too_large()
        return frozenset(full), frozenset(edge)

    def _too_large(self) -> ValidationFailed:
        return ValidationFailed(
            f"The viewport is too large: it may cover at most {self._max_cells} cells",
            details={"maxCells": self._max_cells},
        )

    async def view(self, session: Session, box: BoundingBox) -> View:
        """Watch ``box`` for ``session``. Returns ``("vendor_channels", pins)``, the vendors now
        in view, or, for a viewport covering more than ``max_cells`` cells or holding more
        than ``max_pins`` vendors, ``("vendor_clusters", clusters)``: the session then watches
        no cell, and gets fresh clusters from ``refresh_clusters`` while their counts change."""
        try:
            visible = await self._watch_box(session, box, clusters=True)
        except ValidationFailed:
            return await self._cluster_view(session, box)
        if visible is None:
            return await self._cluster_view(session, box)
        return "vendor_channels", visible

    async def set_view(self, session: Session, box: BoundingBox) -> list[dict[str, Any]]:
        """Watch ``box`` for ``session`` as pins whatever their number (at most
        ``max_vendors`` nearest the centre are returned); too many cells is a validation
        error. Returns the vendors now in view (``vendor_channels``)."""
        visible = await self._watch_box(session, box, clusters=False)
        assert visible is not None
        return visible

    async def _watch_box(
        self, session: Session, box: BoundingBox, *, clusters: bool
    ) -> list[dict[str, Any]] | None:
        full, edge = self.cover(box)
        old = session.cells
        new = full | edge
        added = new - old
        await self.watch(added)
        if session.closed:  # disconnected while the cells loaded
            await self.unwatch(added)
            return []
        try:
            self.detach(session)
            session.rect = rect_of(box)
            session.full_cells, session.edge_cells = full, edge
            for name in full:
                self.cells[name].full[session.sid] = session
            for name in edge:
                self.cells[name].edge[session.sid] = session
            visible = self._in_view(session, box, self._max_pins if clusters else None)
        except BaseException:
            await self.unwatch(added)
            raise
        await self.unwatch(old - new)
        if visible is not None:
            self.clustered.pop(session.sid, None)
        return visible

    async def _cluster_view(self, session: Session, box: BoundingBox) -> View:
        """Answer ``box`` with clusters: stop watching cells, note the session for refreshes."""
        old = session.cells
        self.detach(session)
        session.rect = None
        session.full_cells = session.edge_cells = frozenset()
        session.edge_visible = set()
        await self.unwatch(old)
        watch = watch_for(session, box, self._max_clusters)
        (watch.last,) = await answer(self._locations, [watch])
        if not session.closed:
            self.clustered[session.sid] = watch
        return "vendor_clusters", watch.last

    async def refresh_clusters(self) -> int:
        """Send fresh ``vendor_clusters`` to every clustered session whose clusters changed
        since it was last sent them (one count per group of overlapping viewports, see
        ``clusters``); returns how many were sent."""
        watches = list(self.clustered.values())
        if not watches:
            return 0
        sent = 0
        for watch, fresh in zip(watches, await answer(self._locations, watches), strict=True):
            session = watch.session
            if self.clustered.get(session.sid) is not watch or session.closed:
                continue  # the viewport changed meanwhile
            if fresh != watch.last:
                watch.last = fresh
                self._sender.push(session, Outgoing(USER_NS, "vendor_clusters", fresh))
                self._metrics.messages_out.labels("vendor_clusters").inc()
                sent += 1
        return sent

    def start_refresh(self, every: float) -> None:
        """Refresh clustered viewports every ``every`` seconds at most (until ``close``)."""
        if self._refresh is None:
            self._refresh = asyncio.ensure_future(self._refresh_forever(every))

    async def _refresh_forever(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if not self.clustered:
                continue
            try:
                await self.refresh_clusters()
            except ServiceUnavailable:
                continue  # the geo index's outage is logged once by its connection
            except Exception:
                log.warning("refreshing clustered viewports failed", exc_info=True)

    def _in_view(
        self, session: Session, box: BoundingBox, max_pins: int | None
    ) -> list[dict[str, Any]] | None:
        """The pins in view, or None when there are more than ``max_pins``."""
        rect = session.rect
        assert rect is not None
        found: list[tuple[str, Position, bool]] = []
        for name in session.full_cells:
            found.extend((vid, pos, False) for vid, pos in self.cells[name].members.items())
        for name in session.edge_cells:
            found.extend(
                (vid, pos, True)
                for vid, pos in self.cells[name].members.items()
                if in_rect(rect, *pos)
            )
        if max_pins is not None and len(found) > max_pins:
            return None
        if len(found) > self._max_vendors:
            center = box.center
            found.sort(key=lambda f: haversine_raw(center.lat, center.long, *f[1]))
            del found[self._max_vendors :]
        session.edge_visible = {vid for vid, _, edge in found if edge}
        pins = self.pins
        return [_pin_item(vid, p[0], p[1], pins.get(vid)) for vid, p, _ in found]

    def detach(self, session: Session) -> None:
        for name in session.cells:
            cell = self.cells.get(name)
            if cell is not None:
                cell.full.pop(session.sid, None)
                cell.edge.pop(session.sid, None)

    async def leave(self, session: Session) -> None:
        """The session is gone: stop its watching (``session.closed`` is already set)."""
        self.detach(session)
        self.clustered.pop(session.sid, None)
        cells = session.cells
        session.full_cells = session.edge_cells = frozenset()
        session.edge_visible = set()
        await self.unwatch(cells)

    # -- subscriptions -------------------------------------------------------------------------

    async def watch(self, names: Iterable[str]) -> None:
        """One more watcher of each cell; cells watched for the first time are subscribed and
        loaded before this returns."""
        waits = []
        for name in names:
            cell = self.cells.get(name)
            if cell is None:
                cell = self.cells[name] = _Cell(name)
                task = asyncio.ensure_future(self._open(cell))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)
            cell.refs += 1
            waits.append(cell.ready.wait())
        if waits:
            await asyncio.gather(*waits)

    async def unwatch(self, names: Iterable[str]) -> None:
        closing = []
        for name in names:
            cell = self.cells.get(name)
            if cell is None:
                continue
            cell.refs -= 1
            if cell.refs <= 0:
                del self.cells[name]
                for vid in cell.members:
                    if self.vendor_cell.get(vid) == name:
                        del self.vendor_cell[vid]
                        self.pins.pop(vid, None)
                        self._handed_over.pop(vid, None)
                closing.extend(cell.subs)
        self._metrics.cells.set(len(self.cells))
        for sub in closing:
            await sub.unsubscribe()

    async def _open(self, cell: _Cell) -> None:
        """Subscribe first, then load the cell's vendors; messages arriving meanwhile are
        replayed after the snapshot, so nothing between the two is lost."""
        try:
            live = f"{self._prefix}.live.{cell.name}.*"
            gone = f"{self._prefix}.gone.{cell.name}.*"
            cell.subs.append(await self._bus.subscribe(live, lambda m: self._on_live(cell, m)))
            cell.subs.append(await self._bus.subscribe(gone, lambda m: self._on_gone(cell, m)))
            for hit in await self._locations.vendors_in_box(cell.box(), self._max_vendors):
                if cell.contains(hit.location.lat, hit.location.long):
                    self._learn_pin(hit.id, _pin_of(hit))
                    self._arrive(cell, hit.id, hit.location.lat, hit.location.long)
        except ServiceUnavailable:
            pass  # logged once by the geo index's connection; re-sync fills the cell later
        except Exception:
            log.warning(
                "loading cell %s failed; it fills from live messages", cell.name, exc_info=True
            )
        pending, cell.pending = cell.pending, []
        cell.ready.set()
        for vid, pos in pending:
            self._apply(cell, vid, pos)
        self._metrics.cells.set(len(self.cells))
        if self.cells.get(cell.name) is not cell:  # unwatched while opening
            for sub in cell.subs:
                await sub.unsubscribe()

    async def resync(self) -> int:
        """Compare every watched cell with the geo index and repair what the bus did not say
        (core NATS delivers at most once: a message lost in a reconnect would otherwise leave a
        vendor on users' maps, or keep one off, until it next moves). Returns the repairs.

        Vendors that arrive or leave while a cell's index read is in flight are left alone: the
        live message is newer than the read."""
        repairs = 0
        for cell in list(self.cells.values()):
            if not cell.ready.is_set():
                continue
            cell.touched = set()
            try:
                hits = await self._locations.vendors_in_box(cell.box(), self._max_vendors)
            except ServiceUnavailable:
                continue  # logged once by the geo index's connection
            except Exception:
                log.warning("re-sync of cell %s failed", cell.name, exc_info=True)
                continue
            finally:
                touched, cell.touched = cell.touched, None
            if self.cells.get(cell.name) is not cell:
                continue  # unwatched meanwhile
            found = {
                h.id: (h.location.lat, h.location.long)
                for h in hits
                if cell.contains(h.location.lat, h.location.long)
            }
            for h in hits:
                if h.id in found and h.id not in self.pins:
                    self._learn_pin(h.id, _pin_of(h))
            complete = len(hits) < self._max_vendors  # a capped read cannot prove absence
            for vid in list(cell.members):
                if complete and vid not in found and vid not in touched:
                    self._depart(cell, vid, None)
                    repairs += 1
            for vid, pos in found.items():
                if vid not in cell.members and vid not in touched:
                    self._arrive(cell, vid, *pos)
                    repairs += 1
        return repairs

    async def close(self) -> None:
        """Unsubscribe every cell (the process stops)."""
        for task in list(self._opening):
            task.cancel()
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        self.clustered.clear()
        self._inbox, self._batch, self._cursor = {}, {}, None
        self._idle.set()
        self.pins.clear()
        self._handed_over.clear()
        cells, self.cells = list(self.cells.values()), {}
        self.vendor_cell.clear()
        for cell in cells:
            for sub in cell.subs:
                await sub.unsubscribe()

    # -- bus messages --------------------------------------------------------------------------

    async def _on_live(self, cell: _Cell, message: BusMessage) -> None:
        try:
            data = json.loads(message.data)
            vid = data["vendorId"]
            pos = (float(data["lat"]), float(data["long"]))
            at = data.get("at")
            pin = data.get("pin")
        except (ValueError, KeyError, TypeError):
            log.debug("malformed live message on %s", message.subject)
            return
        if not isinstance(vid, str):
            return
        if isinstance(pin, dict):
            self._learn_pin(
                vid, {**_pin_fields(pin), "updatedAt": at if isinstance(at, str) else None}
            )
        self._receive(cell, vid, pos, _timestamp(at), message)

    async def _on_gone(self, cell: _Cell, message: BusMessage) -> None:
        try:
            data = json.loads(message.data)
            vid = data["vendorId"]
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(vid, str):
            self._receive(cell, vid, None, _timestamp(data.get("at")), message)

    def _receive(
        self, cell: _Cell, vid: str, pos: Position | None, at: float | None, message: BusMessage
    ) -> None:
        """Queue the vendor's state for the fan-out (``_drain``). With ``coalesce``, a vendor
        already waiting gets the newer state in its place: a process that fell behind sends
        each vendor's latest position once instead of every position it missed, so a backlog
        holds at most one entry per vendor and latency stays bounded however busy it gets."""
        if self._coalesce:
            move = self._batch.get(vid)
            if move is None or move.done:
                move = self._inbox.get(vid)
            if move is not None:
                if cell not in move.cells:
                    move.cells.append(cell)
                if at is None or move.at is None or at >= move.at:  # not an older message
                    if move.pos != pos:
                        self._metrics.coalesced.inc()
                    move.pos, move.at, move.message = pos, at, message
                return
            self._inbox[vid] = _Move(vid, pos, cell, at, message)
        else:
            self._seq += 1
            self._inbox[self._seq] = _Move(vid, pos, cell, at, message)
        if self._idle.is_set():  # no pass scheduled: start one
            self._idle.clear()
            asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        """Fan out queued vendor states, oldest first, for up to ``DRAIN_BUDGET_SECONDS`` per
        pass of the event loop (the rest in the next pass, so that reading sockets and
        receiving messages go on). A pass with more than one state corks the sender: each
        watcher gets the pass's frames in one write. The hub is idle once nothing is left."""
        if self._cursor is None:
            self._batch, self._inbox = self._inbox, {}
            self._cursor = iter(self._batch.values())
        corked = len(self._batch) > 1
        deadline = time.perf_counter() + DRAIN_BUDGET_SECONDS
        try:
            if corked:
                self._sender.cork()
            for move in self._cursor:
                move.done = True
                self._fan_out(move)
                if time.perf_counter() > deadline:
                    break
            else:
                self._cursor = None
                self._batch = {}
        finally:
            if self._cursor is None and not self._inbox:
                self._idle.set()
            else:  # more to do, or a pass that failed midway: go on in the next pass
                asyncio.get_running_loop().call_soon(self._drain)
            if corked:
                self._sender.uncork()

    async def fanned_out(self) -> None:
        """Wait until every vendor state received so far has been fanned out."""
        await self._idle.wait()

    def backlog(self) -> int:
        """Vendor states waiting for the fan-out."""
        waiting = len(self._inbox)
        if self._cursor is not None:
            waiting += sum(not move.done for move in self._batch.values())
        return waiting

    def _fan_out(self, move: _Move) -> None:
        message = move.message
        if tracing.active() and message.headers:
            # a span of this fan-out, linked to the update that published the position
            attributes = {
                "messaging.operation.type": "process",
                "messaging.destination.name": message.subject,
            }
            with tracing.messaging_span(
                "process live", "consumer", links=[message.headers], attributes=attributes
            ):
                self._apply_move(move)
        else:
            self._apply_move(move)
        if move.at is not None and move.pos is not None:
            self._metrics.fanout_latency.observe(max(0.0, time.time() - move.at))

    def _apply_move(self, move: _Move) -> None:
        vid, pos = move.vid, move.pos
        for cell in move.cells:
            if self.cells.get(cell.name) is not cell:
                continue  # unwatched since
            if not cell.ready.is_set():
                cell.pending.append((vid, pos))
                continue
            try:
                self._apply(cell, vid, pos)
            except Exception:
                log.exception("fan-out of vendor %s in cell %s failed", vid, cell.name)

    def _learn_pin(self, vendor_id: str, pin: Pin | None) -> None:
        if pin is not None:
            self.pins[vendor_id] = pin

    def vendor_changed(self, vendor_id: str, name: str, open_: bool, image: str | None) -> int:
        """The vendor's profile changed: watchers that see it get its pin (``vendor_sync``).
        Returns how many were sent it."""
        cell_name = self.vendor_cell.get(vendor_id)
        cell = self.cells.get(cell_name) if cell_name is not None else None
        if cell is None or vendor_id not in cell.members:
            return 0
        old = self.pins.get(vendor_id)
        pin = {
            "name": name,
            "open": open_,
            "primaryImage": image,
            "updatedAt": old.get("updatedAt") if old is not None else None,
        }
        if pin == old:
            return 0
        self.pins[vendor_id] = pin
        lat, long = cell.members[vendor_id]
        seeing = [*cell.full.values()]
        seeing += [s for s in cell.edge.values() if vendor_id in s.edge_visible]
        sent = self._sender.deliver(seeing, _pin_sync(vendor_id, lat, long, pin))
        self._metrics.messages_out.labels("vendor_sync").inc(sent)
        return sent

    def vendor_removed(self, vendor_id: str) -> None:
        """The vendor is gone everywhere (deleted): tell whoever sees it here."""
        name = self.vendor_cell.get(vendor_id)
        cell = self.cells.get(name) if name is not None else None
        if cell is not None:
            self._depart(cell, vendor_id, None)

    def _apply(self, cell: _Cell, vid: str, pos: Position | None) -> None:
        if pos is not None and cell.contains(*pos):
            self._arrive(cell, vid, *pos)
            return
        self._depart(cell, vid, pos)
        if pos is None:  # offline: it may be known in another cell of this process too
            self.vendor_removed(vid)

    def _arrive(self, cell: _Cell, vid: str, lat: float, long: float) -> None:
        """``vid`` is at (lat, long) in ``cell``. Watchers that saw it already get the move
        (``{id, location}``); those it comes into view of get its pin."""
        if cell.touched is not None:
            cell.touched.add(vid)
        present = vid in cell.members
        saw: set[str] = set()  # sessions that saw the vendor in its previous cell
        previous = self.vendor_cell.get(vid)
        if previous is not None and previous != cell.name:
            other = self.cells.get(previous)
            if other is not None:
                saw = {*other.full, *(k for k, v in other.edge.items() if vid in v.edge_visible)}
                self._depart(other, vid, (lat, long))
        saw |= self._handed_over.pop(vid, set())
        cell.members[vid] = (lat, long)
        self.vendor_cell[vid] = cell.name
        if not cell.full and not cell.edge:
            return
        out = _sync(vid, lat, long)
        entering: Outgoing | None = None
        if present:  # the common case: a move within the cell, one shared frame
            sent = self._sender.deliver(cell.full.values(), out)
        else:
            entering = _pin_sync(vid, lat, long, self.pins.get(vid))
            moved = [v for k, v in cell.full.items() if k in saw]
            new = [v for k, v in cell.full.items() if k not in saw]
            sent = self._sender.deliver(moved, out) + self._sender.deliver(new, entering)
        if cell.edge:
            # Edge watchers that see the vendor are collected and written in one ``deliver``
            # loop (the same per-recipient work as for full watchers) rather than one ``push``
            # call each: this loop runs once per watcher per update.
            seen: list[Session] = []
            came: list[Session] = []
            left: Outgoing | None = None
            for session in cell.edge.values():
                rect = session.rect
                if rect is not None and in_rect(rect, lat, long):
                    before = vid in session.edge_visible if present else session.sid in saw
                    session.edge_visible.add(vid)
                    (seen if before else came).append(session)
                elif vid in session.edge_visible:
                    session.edge_visible.discard(vid)
                    left = left or _left(vid)
                    self._sender.push(session, left)
                    self._metrics.messages_out.labels("vendor_left").inc()
            sent += self._sender.deliver(seen, out)
            if came:
                entering = entering or _pin_sync(vid, lat, long, self.pins.get(vid))
                sent += self._sender.deliver(came, entering)
        self._metrics.messages_out.labels("vendor_sync").inc(sent)

    def _depart(self, cell: _Cell, vid: str, pos: Position | None) -> None:
        """``vid`` left ``cell`` for ``pos`` (``None``: offline). Each watcher either still
        sees it at ``pos`` (``vendor_sync``) or is told it left (``vendor_left``)."""
        if cell.touched is not None:
            cell.touched.add(vid)
        if cell.members.pop(vid, None) is None:
            return
        if self.vendor_cell.get(vid) == cell.name:
            del self.vendor_cell[vid]
        target = encode(pos[0], pos[1], self._precision) if pos is not None else None
        # Watchers of the target cell get the move from the vendor's arrival there (before or
        # after this departure, whichever bus message comes first), not from here as well.
        arriving = target is not None and target in self.cells
        sync: Outgoing | None = None
        entering: Outgoing | None = None
        left: Outgoing | None = None
        for session in [*cell.full.values(), *cell.edge.values()]:
            rect = session.rect
            was = session.sid in cell.full or vid in session.edge_visible
            if pos is not None and rect is not None and in_rect(rect, *pos):
                if target in session.edge_cells:
                    session.edge_visible.add(vid)
                else:
                    session.edge_visible.discard(vid)
                if arriving and (target in session.full_cells or target in session.edge_cells):
                    if was:
                        self._handed_over.setdefault(vid, set()).add(session.sid)
                    continue
                if was:
                    sync = sync or _sync(vid, *pos)
                    self._sender.push(session, sync)
                else:  # comes into view here
                    entering = entering or _pin_sync(vid, *pos, self.pins.get(vid))
                    self._sender.push(session, entering)
                self._metrics.messages_out.labels("vendor_sync").inc()
            elif was:
                session.edge_visible.discard(vid)
                left = left or _left(vid)
                self._sender.push(session, left)
                self._metrics.messages_out.labels("vendor_left").inc()
