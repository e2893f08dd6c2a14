"""Hypothesis settings and coordinate strategies shared by the property-based tests.

Coordinates mix ordinary values with the ones that break arithmetic: the poles and the
antimeridian exactly, negative zero, subnormal and tiny values (whose squares underflow),
and the latitude Redis GEO clamps at. Examples are not saved between runs (``database=None``),
and there is no deadline: the tests share a loaded machine with real services.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from venta_core.domain.geo import BoundingBox, Location

__all__ = ["PROPERTY", "boxes", "latitudes", "locations", "longitudes", "radii"]

#: Settings of every property test here; each example builds its own data, so a
#: function-scoped fixture (an application, an index) may serve all of them.
PROPERTY = settings(
    deadline=None,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_TINY = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-200, 1e-200, 1e-12]
_EXTREME_LAT = [90.0, -90.0, 89.99999999, -89.99999999, 85.05112878, -85.05112878, 85.0511]
_EXTREME_LONG = [180.0, -180.0, 179.99999999, -179.99999999, 179.9999999999999]


def latitudes() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(_TINY + _EXTREME_LAT),
        st.floats(-90, 90, allow_nan=False, allow_subnormal=True),
        st.floats(-1e-6, 1e-6, allow_nan=False, allow_subnormal=True),
    )


def longitudes() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(_TINY + _EXTREME_LONG),
        st.floats(-180, 180, allow_nan=False, allow_subnormal=True),
        st.floats(-1e-6, 1e-6, allow_nan=False, allow_subnormal=True),
    )


def locations() -> st.SearchStrategy[Location]:
    return st.builds(Location, lat=latitudes(), long=longitudes())


def radii(max_m: float = 100_000.0) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([1e-9, 0.5, 1.0, 1_000.0, max_m]),
        st.floats(1e-6, max_m, allow_nan=False),
    )


@st.composite
def boxes(draw: st.DrawFn) -> BoundingBox:
    """Any valid box, antimeridian-crossing ones (south-west longitude east of the north-east
    one) included."""
    a, b = draw(latitudes()), draw(latitudes())
    return BoundingBox(
        sw=Location(lat=min(a, b), long=draw(longitudes())),
        ne=Location(lat=max(a, b), long=draw(longitudes())),
    )
