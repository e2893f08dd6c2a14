"""Builders and assertions shared by the port tests: those of the contract suites."""

from __future__ import annotations

from venta_core.contracts.bus import eventually
from venta_core.contracts.geo import (
    JUST,
    Points,
    assert_ordered_from,
    assert_ranked_like,
    bbox,
    expected_in_box,
    names,
    north_of,
)

__all__ = [
    "JUST",
    "Points",
    "assert_ordered_from",
    "assert_ranked_like",
    "bbox",
    "eventually",
    "expected_in_box",
    "names",
    "north_of",
]
