"""In-process presence: the ``PresenceStore`` of a single process (``venta serve all``)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping

from venta_core.ports.presence import MAX_TAKE

__all__ = ["MemoryPresence", "check_take_limit", "check_ttl"]


def check_ttl(seconds: float, what: str) -> None:
    if not seconds >= 0:  # NaN included
        raise ValueError(f"{what} must be a non-negative number of seconds")


def check_take_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_TAKE:
        raise ValueError(f"limit must be between 1 and {MAX_TAKE}")


class MemoryPresence:
    """Holders and deadlines in dicts; expired vendors found through a heap of deadlines.

    Every renewal pushes a heap entry; entries whose deadline is no longer the vendor's are
    skipped when they surface, so the heap holds a few entries per vendor at most.
    """

    name = "presence"

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    def _set_deadline(self, vendor_id: str, deadline: float) -> None:
        self._deadlines[vendor_id] = deadline
        heapq.heappush(self._heap, (deadline, vendor_id))

    async def hold(self, holders: Mapping[str, str], ttl_seconds: float) -> None:
        check_ttl(ttl_seconds, "ttl_seconds")
        deadline = time.monotonic() + ttl_seconds
        for vendor_id, holder in holders.items():
            self._holders[vendor_id] = holder
            self._set_deadline(vendor_id, deadline)

    async def let_go(self, vendor_id: str, holder: str, after_seconds: float) -> bool:
        check_ttl(after_seconds, "after_seconds")
        if self._holders.get(vendor_id) != holder:
            return False
        self._set_deadline(vendor_id, time.monotonic() + after_seconds)
        return True

    async def holder(self, vendor_id: str) -> str | None:
        deadline = self._deadlines.get(vendor_id)
        if deadline is None or deadline <= time.monotonic():
            return None
        return self._holders.get(vendor_id)

    async def take_expired(self, limit: int = MAX_TAKE) -> list[str]:
        check_take_limit(limit)
        now = time.monotonic()
        taken: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(taken) < limit:
            deadline, vendor_id = heapq.heappop(heap)
            if self._deadlines.get(vendor_id) != deadline:
                continue  # renewed (or taken) since this entry was pushed
            del self._deadlines[vendor_id]
            self._holders.pop(vendor_id, None)
            taken.append(vendor_id)
        return taken
