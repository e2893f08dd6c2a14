"""Refilling the geo index from the database: at start, and whenever it comes back empty.

Live positions live in the geo index; the database keeps each vendor's last known position
(written behind) and whether it is live (``vendors.live``, cleared when the vendor goes
offline). An index that is empty without anyone having emptied it on purpose (a new in-process
index at start, a Redis restarted without persistence or failed over to an empty replica) lacks
every vendor that does not move: a stall that set its position once over REST would stay off
the map until it moves again. So every process with a geo index:

1. at start, then every ``location.refill_check_seconds`` (and at once when Redis answers again
   after an outage), asks the index for a refill claim (``GeoIndex.claim_refill``). The index
   grants one only when it was not filled since it was last empty, and to one process at a
   time: N processes cost N cheap checks and one refill, not a stampede on the database.
2. The process holding the claim reads the live vendors' last known positions and adds the
   ones the index does not have (``add_missing``). A position set meanwhile (a vendor that
   published again after the restart) is newer than the database's and stays.
3. It marks the index filled (``end_refill``). If the index was emptied again meanwhile, the
   mark fails and the next check refills it again.

A claim expires after ``CLAIM_SECONDS``, so a process that dies while refilling holds the
others up no longer than that; a refill that fails (the database unreachable) gives its claim
up at once and is retried at the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from venta_core.errors import ServiceUnavailable
from venta_core.ports.geo import GeoIndex
from venta_core.store import vendors as vendor_rows
from venta_core.store.engine import Database

__all__ = ["CLAIM_SECONDS", "GeoRefill"]

log = logging.getLogger(__name__)

#: How long a refill claim holds off other processes (a refill takes seconds even for 10^6
#: vendors: one query, then one script per 1,000 positions).
CLAIM_SECONDS = 60.0


class GeoRefill:
    """Keeps the geo index filled (see the module docstring). A component: ``start`` refills
    at once (failing the start when the index or the database cannot be reached, as any port
    does), then checks in the background."""

    name = "geo-refill"

    def __init__(self, geo: GeoIndex, db: Database, *, check_seconds: float) -> None:
        self._geo = geo
        self._db = db
        self._every = check_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Check now rather than at the next interval (the geo index's backend is back)."""
        self._wake.set()

    async def start(self) -> None:
        await self.refill()
        if self._every > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refill(self) -> int | None:
        """Refill the index if it needs it and no other process is at it. Returns how many
        positions were added, or None when there was nothing to do here."""
        claim = await self._geo.claim_refill(CLAIM_SECONDS)
        if claim is None:
            return None
        try:
            async with self._db.connect() as conn:
                positions = await vendor_rows.select_live_positions(conn)
            added = await self._geo.add_missing(positions)
        except BaseException:
            with contextlib.suppress(Exception):  # else the claim expires by itself
                await self._geo.end_refill(claim, filled=False)
            raise
        if await self._geo.end_refill(claim, filled=True):
            log.info(
                "geo index refilled from the database: %d of %d live positions were missing",
                added,
                len(positions),
            )
        else:
            log.info("geo index emptied again while it was refilled; refilling at the next check")
        return added

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._every):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.refill()
            except ServiceUnavailable:
                pass  # logged once by the backend's Dependency; checked again next time
            except Exception:
                log.warning(
                    "refilling the geo index failed; next check in %g s", self._every, exc_info=True
                )
