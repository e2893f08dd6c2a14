"""In-process key-value store: rate-limit counters and short-lived values of one process.

Nothing leaks: expired entries are swept lazily (amortised O(1) per write) and the number of rate
counters is bounded; past the bound the least recently hit counters are forgotten, which at worst
lets those clients start a fresh window early.
"""

from __future__ import annotations

import math
import time
from itertools import islice
from typing import Generic, TypeVar

from venta_core.ports.kv import RateDecision

__all__ = ["MemoryKeyValue", "rate_decision", "validate_ttl", "window_of"]

T = TypeVar("T")

#: Most rate counters kept at once.
MAX_COUNTERS = 100_000
#: Most values kept at once (values without a TTL are dropped last-written-last).
MAX_VALUES = 1_000_000
_MIN_SWEEP = 1024


def rate_decision(count: int, limit: int, reset_after: float) -> RateDecision:
    """The decision for the ``count``-th event of a window (shared by every implementation)."""
    return RateDecision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_after=max(0.0, reset_after),
    )


def validate_ttl(ttl_seconds: float | None) -> None:
    if ttl_seconds is not None and not ttl_seconds > 0:
        raise ValueError("ttl_seconds must be positive (or None for no expiry)")


def window_of(window_seconds: int, now: float) -> tuple[int, float]:
    """Index of the fixed window holding ``now`` (epoch seconds) and the seconds left in it."""
    if window_seconds < 1:
        raise ValueError("window_seconds must be at least 1")
    index = int(now // window_seconds)
    return index, (index + 1) * window_seconds - now


class _ExpiringMap(Generic[T]):
    """A dict whose entries carry a monotonic deadline; ordered by last write."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._data: dict[str, tuple[T, float]] = {}
        self._sweep_at = min(max_entries + 1, _MIN_SWEEP)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, now: float) -> T | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def put(self, key: str, value: T, deadline: float, now: float) -> None:
        self._data.pop(key, None)  # re-inserted at the end: oldest writes come first
        self._data[key] = (value, deadline)
        if len(self._data) >= self._sweep_at:
            self._sweep(now)

    def pop(self, key: str, now: float) -> bool:
        item = self._data.pop(key, None)
        return item is not None and item[1] > now

    def _sweep(self, now: float) -> None:
        self._data = {k: item for k, item in self._data.items() if item[1] > now}
        excess = len(self._data) - self._max
        for key in list(islice(self._data, max(0, excess))):
            del self._data[key]
        # Sweep again once the map has doubled: each sweep is paid for by as many writes.
        self._sweep_at = min(self._max + 1, max(_MIN_SWEEP, 2 * len(self._data)))


class MemoryKeyValue:
    """``KeyValueStore`` of one process (fixed-window counters, values with optional TTL)."""

    name = "kv"

    def __init__(self) -> None:
        self._counters: _ExpiringMap[tuple[int, int]] = _ExpiringMap(MAX_COUNTERS)
        self._values: _ExpiringMap[str] = _ExpiringMap(MAX_VALUES)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        now = time.monotonic()
        window, reset_after = window_of(window_seconds, time.time())
        current = self._counters.get(key, now)
        count = current[1] + 1 if current is not None and current[0] == window else 1
        self._counters.put(key, (window, count), now + reset_after, now)
        return rate_decision(count, limit, reset_after)

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        validate_ttl(ttl_seconds)
        now = time.monotonic()
        deadline = math.inf if ttl_seconds is None else now + ttl_seconds
        self._values.put(key, value, deadline, now)

    async def get(self, key: str) -> str | None:
        return self._values.get(key, time.monotonic())

    async def delete(self, key: str) -> bool:
        return self._values.pop(key, time.monotonic())
