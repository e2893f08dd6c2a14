"""Write-behind of last known positions, and the ``vendor.moved`` events they cause.

Live positions go to the geo index at once; the database only needs the *last* known position,
so updates are coalesced per member in memory and written in one batch every
``flush_interval_seconds`` (or sooner when ``flush_max_pending`` members wait). A burst of
thousands of updates costs one ``executemany`` instead of thousands of transactions.

With ``MovedEvents`` (the vendors' write-behind), a flush also inserts a durable
``vendor.moved`` event into the outbox for each vendor that moved enough since its last one:
in the same transaction as the batch UPDATE, so a position in the database and its event never
disagree. Which vendors are due is decided in memory (the last emitted position of each), so
``record`` stays O(1) and the flush costs no extra query unless some vendor is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain.geo import haversine_raw
from venta_core.errors import ServiceUnavailable
from venta_core.events import VendorMovedData
from venta_core.settings import LocationSettings
from venta_core.store import outbox
from venta_core.store.engine import Database

__all__ = ["MAX_REMEMBERED_MOVES", "MovedEvents", "PositionWriteBehind"]

log = logging.getLogger(__name__)

#: member -> its newest position (lat, long, at), or None: its live position was removed.
Pending = dict[str, tuple[float, float, datetime] | None]
Positions = dict[str, tuple[float, float, datetime]]
#: A position due for a ``vendor.moved`` event: (vendor id, lat, long, at).
Move = tuple[str, float, float, datetime]

#: Bound of the vendor -> last emitted position map (least recently emitted leave first). A
#: vendor that left it emits again at its next flush: more events, never fewer.
MAX_REMEMBERED_MOVES = 100_000
#: Events per existence check and outbox insert (well under every driver's bound-parameter
#: limit, and a few milliseconds of work on the event loop).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class MovedEvents:
    """When a flush emits ``vendor.moved`` for a vendor: the first time this process writes
    its position, then when the position written differs from the last emitted one and is
    ``interval_seconds`` newer than it, or farther than ``min_meters`` from it (0: only the
    interval counts)."""

    interval_seconds: float
    min_meters: float = 0.0
    remember: int = MAX_REMEMBERED_MOVES

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0 or self.min_meters < 0 or self.remember < 1:
            raise ValueError("MovedEvents: interval > 0, min_meters >= 0 and remember >= 1")

    @classmethod
    def from_settings(cls, settings: LocationSettings) -> MovedEvents | None:
        """``None`` when ``moved_event_interval_seconds`` is 0 (no events)."""
        if settings.moved_event_interval_seconds <= 0:
            return None
        return cls(settings.moved_event_interval_seconds, settings.moved_event_min_meters)


class PositionWriteBehind:
    def __init__(
        self,
        db: Database,
        table: sa.Table,
        *,
        interval: float,
        max_pending: int,
        name: str = "positions",
        moved: MovedEvents | None = None,
    ) -> None:
        """``moved``: emit ``vendor.moved`` from each flush (only for the vendors table)."""
        self.name = f"write-behind:{name}"
        self._db = db
        self._table = table
        self._interval = interval
        self._max_pending = max_pending
        self._pending: Pending = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._moved = moved
        # member -> (lat, long, POSIX time) of its last emitted event, least recent first
        self._emitted: dict[str, tuple[float, float, float]] = {}
        self.written = 0
        self.events = 0
        #: A table with a ``live`` column (vendors) records whether the position is on the map.
        self._live = "live" in table.c
        where = table.c.id == sa.bindparam("member_id")
        values: dict[str, Any] = {
            "lat": sa.bindparam("p_lat"),
            "long": sa.bindparam("p_long"),
            "location_updated_at": sa.bindparam("p_at"),
        }
        if self._live:
            values["live"] = True
        self._stmt = table.update().where(where).values(**values)
        self._offline_stmt = table.update().where(where).values(live=False)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, member_id: str, lat: float, long: float, at: datetime) -> None:
        """Remember the newest position of ``member_id``; O(1), never touches the database."""
        self._pending[member_id] = (lat, long, at)
        if len(self._pending) >= self._max_pending:
            self._wake.set()

    def record_offline(self, member_id: str) -> None:
        """The member's live position was removed (it went offline): the next flush marks its
        row not live, keeping its last position, unless a newer position is recorded first.
        Its last emitted position is forgotten: when it is live again, its first flush emits
        ``vendor.moved`` at once. Wakes the flush at once (going offline is rare, and the
        sooner the database knows, the less a refill of the geo index can bring the vendor
        back)."""
        if not self._live:
            raise ValueError(f"{self._table.name} has no live column")
        self._pending[member_id] = None
        self._emitted.pop(member_id, None)
        self._wake.set()

    def forget(self, member_id: str) -> None:
        """Drop the pending position of ``member_id`` (deleted, or gone offline) and its last
        emitted one: when it is live again, its first flush emits ``vendor.moved`` at once."""
        self._pending.pop(member_id, None)
        self._emitted.pop(member_id, None)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("final position flush failed; %d positions not persisted", self.pending)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except ServiceUnavailable:
                pass  # kept for the next flush; the database's outage is logged once by its guard
            except Exception:
                log.exception("position flush failed; will retry")

    async def flush(self) -> int:
        """Write what is pending now, with its ``vendor.moved`` events, in one transaction.
        On failure nothing is written and the batch is put back (newer values win)."""
        async with self._flush_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            positions: Positions = {m: p for m, p in batch.items() if p is not None}
            # In the order of the ids: processes flushing the same vendors (a vendor's updates
            # spread over gateways) lock the rows in one order, waiting instead of deadlocking.
            params = [
                {"member_id": mid, "p_lat": lat, "p_long": long, "p_at": at}
                for mid, (lat, long, at) in sorted(positions.items())
            ]
            offline = [{"member_id": mid} for mid in sorted(batch) if batch[mid] is None]
            due = self._due(positions)
            try:
                async with self._db.begin() as conn:
                    if params:
                        await conn.execute(self._stmt, params)
                    if offline:
                        await conn.execute(self._offline_stmt, offline)
                    emitted = await self._emit(conn, due) if due else []
            except BaseException:
                for mid, value in batch.items():
                    self._pending.setdefault(mid, value)
                raise
            # Only once committed: a failed flush is retried with its events.
            for mid, lat, long, at in emitted:
                self._remember(mid, lat, long, at.timestamp())
            self.written += len(batch)
            self.events += len(emitted)
            return len(batch)

    def _due(self, batch: Positions) -> list[Move]:
        """The positions of ``batch`` that get a ``vendor.moved`` event (no I/O)."""
        moved = self._moved
        if moved is None:
            return []
        interval, min_meters, emitted = moved.interval_seconds, moved.min_meters, self._emitted
        due: list[Move] = []
        for mid, (lat, long, at) in batch.items():
            last = emitted.get(mid)
            if last is None:
                due.append((mid, lat, long, at))
                continue
            last_lat, last_long, last_t = last
            if lat == last_lat and long == last_long:
                continue  # the indexes already hold this position
            elapsed = at.timestamp() - last_t
            if (
                elapsed >= interval
                or elapsed < 0  # the clock went back: do not stay silent until it catches up
                or (min_meters > 0 and haversine_raw(last_lat, last_long, lat, long) > min_meters)
            ):
                due.append((mid, lat, long, at))
        return due

    async def _emit(self, conn: AsyncConnection, due: Sequence[Move]) -> list[Move]:
        """Insert the ``vendor.moved`` events of ``due`` whose row exists; return those.

        The UPDATE just ran in this transaction, which holds the lock of every row it changed
        (SQLite: the database's write lock), so a row seen here is the row written, and a
        vendor deleted before (no row, nothing updated) gets no event. (An ``executemany``
        UPDATE cannot return which rows it changed, hence the check, only over the vendors
        that are due.)
        """
        id_column = self._table.c.id
        moves: list[Move] = []
        # In chunks: each is a short stretch of work on the event loop, then a wait on the
        # database, so a large flush (every vendor, after a start) does not hold up live
        # updates for long.
        for start in range(0, len(due), _CHUNK):
            chunk = due[start : start + _CHUNK]
            ids = [move[0] for move in chunk]
            rows = await conn.execute(sa.select(id_column).where(id_column.in_(ids)))
            exists = {row[0] for row in rows}
            found = [move for move in chunk if move[0] in exists]
            payloads = [
                VendorMovedData(id=m, lat=lat, long=long, at=at) for m, lat, long, at in found
            ]
            await outbox.add_events(conn, "vendor.moved", payloads)
            moves += found
        return moves

    def _remember(self, member_id: str, lat: float, long: float, t: float) -> None:
        emitted = self._emitted
        # Re-inserted at the end: the dict's order is least recently emitted first.
        limit = self._moved.remember if self._moved is not None else MAX_REMEMBERED_MOVES
        if emitted.pop(member_id, None) is None and len(emitted) >= limit:
            del emitted[next(iter(emitted))]
        emitted[member_id] = (lat, long, t)
