"""``nearby_json`` writes what the ``NearbyResponse`` model would, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from venta_core.domain import Location, VendorPosition
from venta_core.transports.http.schemas import NearbyResponse, NearbyVendor, nearby_json

SEEN = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)

POSITIONS = [
    VendorPosition(id="a", location=Location(lat=52.52, long=13.405)),  # no pin: bare
    VendorPosition(
        id="b",
        location=Location(lat=-33.8688, long=151.2093),
        distance=1234.5678,
        updated_at=SEEN,
        name='Crêpes «Chez Zoë» 🥞 "quoted" \\ back',
        open=True,
        primary_image=None,
    ),
    VendorPosition(
        id="c",
        location=Location(lat=0.0, long=-0.00001),
        distance=0.04,
        updated_at=SEEN.replace(tzinfo=None),  # naive (SQLite): taken as UTC
        name="",
        open=False,
        primary_image="https://img.example/x.png?a=1&b=<2>",
    ),
    VendorPosition(
        id="d",
        location=Location(lat=90, long=180),
        updated_at=SEEN.astimezone(timezone(timedelta(hours=5, minutes=30))),
        name="Open unknown",
        open=None,
    ),
    VendorPosition(id="e", location=Location(lat=1e-7, long=1e16 / 1e14), distance=0.0),
]


def _model_json(positions: list[VendorPosition]) -> bytes:
    return (
        NearbyResponse(vendors=[NearbyVendor.of(p) for p in positions])
        .model_dump_json(by_alias=True)
        .encode()
    )


@pytest.mark.parametrize("count", [0, 1, len(POSITIONS)])
def test_the_same_bytes_as_the_response_model(count: int) -> None:
    positions = POSITIONS[:count]
    assert nearby_json(positions) == _model_json(positions)


def test_each_position_alone() -> None:
    for position in POSITIONS:
        assert nearby_json([position]) == _model_json([position]), position


def test_times_formatted_once_are_formatted_the_same_again() -> None:
    """The formatted times are remembered: the same instant in another zone, or the same
    wall time without a zone (taken as UTC), still writes what the model writes."""
    moments = [SEEN, SEEN.astimezone(timezone(timedelta(hours=-7))), SEEN.replace(tzinfo=None)]
    for _ in range(2):
        positions = [
            VendorPosition(id=str(i), location=Location(lat=1, long=2), updated_at=moment)
            for i, moment in enumerate(moments)
        ]
        assert nearby_json(positions) == _model_json(positions)
