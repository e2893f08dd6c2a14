"""``IdentityLimits``: connection caps and one message window per identity and namespace."""

from __future__ import annotations

import time

import pytest

from venta_core.errors import RateLimited
from venta_core.observability.metrics import new_registry
from venta_core.transports.realtime.limits import IdentityLimits


def _rejected() -> float:
    return (
        new_registry().get_sample_value(
            "venta_rate_limit_rejections_total", {"limit": "ws_connections_per_user"}
        )
        or 0.0
    )


def test_connections_are_capped_per_identity_and_namespace() -> None:
    limits = IdentityLimits({"/user": 5, "/vendor": 5}, max_connections=2)
    limits.open("/user", "u1")
    limits.open("/user", "u1")
    before = _rejected()
    with pytest.raises(RateLimited):
        limits.open("/user", "u1")
    assert _rejected() == before + 1
    limits.open("/vendor", "u1")  # another namespace
    limits.open("/user", "u2")  # another user
    limits.close("/user", "u1")
    limits.open("/user", "u1")  # a slot was freed
    assert limits.connections("/user", "u1") == 2


def test_connections_of_one_identity_share_a_window() -> None:
    limits = IdentityLimits({"/user": 3, "/vendor": 5}, max_connections=5)
    a, b = limits.open("/user", "u1"), limits.open("/user", "u1")
    assert a is b
    a.hit()
    b.hit()
    a.hit()
    with pytest.raises(RateLimited):
        b.hit()


def test_an_idle_identity_keeps_its_window_until_it_ends() -> None:
    limits = IdentityLimits({"/user": 1, "/vendor": 1}, max_connections=5, window_seconds=0.2)
    limits.open("/user", "u1").hit()
    limits.close("/user", "u1")
    with pytest.raises(RateLimited):
        limits.open("/user", "u1").hit()  # reconnecting does not reset the window
    limits.close("/user", "u1")
    time.sleep(0.25)
    limits.open("/user", "u2")  # forgets idle identities whose window ended
    limits.open("/user", "u1").hit()
