"""Write-behind of last known positions.

Live positions go to the geo index at once; the database only needs the *last* known position,
so updates are coalesced per member in memory and written in one batch every
``flush_interval_seconds`` (or sooner when ``flush_max_pending`` members wait). A burst of
thousands of updates costs one ``executemany`` instead of thousands of transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import sqlalchemy as sa

from venta_core.store.engine import Database

__all__ = ["PositionWriteBehind"]

log = logging.getLogger(__name__)

Pending = dict[str, tuple[float, float, datetime]]


class PositionWriteBehind:
    def __init__(
        self,
        db: Database,
        table: sa.Table,
        *,
        interval: float,
        max_pending: int,
        name: str = "positions",
    ) -> None:
        self.name = f"write-behind:{name}"
        self._db = db
        self._table = table
        self._interval = interval
        self._max_pending = max_pending
        self._pending: Pending = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.written = 0
        self._stmt = (
            table.update()
            .where(table.c.id == sa.bindparam("member_id"))
            .values(
                lat=sa.bindparam("p_lat"),
                long=sa.bindparam("p_long"),
                location_updated_at=sa.bindparam("p_at"),
            )
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, member_id: str, lat: float, long: float, at: datetime) -> None:
        """Remember the newest position of ``member_id``; O(1), never touches the database."""
        self._pending[member_id] = (lat, long, at)
        if len(self._pending) >= self._max_pending:
            self._wake.set()

    def forget(self, member_id: str) -> None:
        self._pending.pop(member_id, None)

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
            except Exception:
                log.exception("position flush failed; will retry")

    async def flush(self) -> int:
        """Write what is pending now. On failure the batch is put back (newer values win)."""
        async with self._flush_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            params = [
                {"member_id": mid, "p_lat": lat, "p_long": long, "p_at": at}
                for mid, (lat, long, at) in batch.items()
            ]
            try:
                async with self._db.begin() as conn:
                    await conn.execute(self._stmt, params)
            except BaseException:
                for mid, value in batch.items():
                    self._pending.setdefault(mid, value)
                raise
            self.written += len(params)
            return len(params)
