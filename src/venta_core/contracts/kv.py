"""The ``KeyValueStore`` contract: fixed-window rate limits and short-lived values.

Subclass ``KeyValueContract`` in a test module and provide a ``kv`` fixture yielding a started
store whose keys no other test uses (a key prefix of its own, say)::

    class TestMyStore(KeyValueContract):
        @pytest.fixture
        async def kv(self) -> AsyncIterator[KeyValueStore]:
            store = MyStore(prefix=f"test-{uuid.uuid4().hex}")
            await store.start()
            yield store
            await store.stop()
"""

from __future__ import annotations

import asyncio

import pytest

from venta_core.ports.kv import KeyValueStore, RateDecision

__all__ = ["KeyValueContract", "fresh_window"]


async def fresh_window(kv: KeyValueStore, window_seconds: int, needed: float) -> None:
    """Sleep into a new window when less than ``needed`` seconds are left in this one."""
    probe = await kv.hit("probe", 1, window_seconds)
    if probe.reset_after < needed:
        await asyncio.sleep(probe.reset_after + 0.02)


class KeyValueContract:
    """The key-value store contract; needs a ``kv`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    async def test_hit_counts_within_a_fixed_window(self, kv: KeyValueStore) -> None:
        await fresh_window(kv, 3600, 5.0)
        decisions = [await kv.hit("user:1", 3, 3600) for _ in range(5)]
        assert [d.allowed for d in decisions] == [True, True, True, False, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
        assert all(d.limit == 3 for d in decisions)
        assert all(0 < d.reset_after <= 3600 for d in decisions)
        assert decisions[-1].reset_after <= decisions[0].reset_after
        other = await kv.hit("user:2", 3, 3600)
        assert other._replace(reset_after=0.0) == RateDecision(True, 3, 2, 0.0)

    async def test_a_new_window_resets_the_count(self, kv: KeyValueStore) -> None:
        await fresh_window(kv, 1, 0.5)
        first = [await kv.hit("ip:1", 2, 1) for _ in range(3)]
        assert [d.allowed for d in first] == [True, True, False]
        assert 0 < first[-1].reset_after <= 1
        await asyncio.sleep(first[-1].reset_after + 0.02)
        again = await kv.hit("ip:1", 2, 1)
        assert again.allowed and again.remaining == 1

    async def test_limit_zero_refuses_everything(self, kv: KeyValueStore) -> None:
        decision = await kv.hit("blocked", 0, 60)
        assert not decision.allowed and decision.remaining == 0

    async def test_window_must_be_positive(self, kv: KeyValueStore) -> None:
        with pytest.raises(ValueError):
            await kv.hit("k", 1, 0)

    async def test_set_get_delete(self, kv: KeyValueStore) -> None:
        assert await kv.get("presence:1") is None
        await kv.set("presence:1", "online")
        assert await kv.get("presence:1") == "online"
        await kv.set("presence:1", "away")
        assert await kv.get("presence:1") == "away"
        assert await kv.delete("presence:1") is True
        assert await kv.delete("presence:1") is False
        assert await kv.get("presence:1") is None

    async def test_values_expire_after_their_ttl(self, kv: KeyValueStore) -> None:
        await kv.set("short", "1", ttl_seconds=0.15)
        await kv.set("long", "2", ttl_seconds=30)
        await kv.set("kept", "3", ttl_seconds=0.15)
        await kv.set("kept", "4")  # a set without TTL makes the value permanent again
        assert await kv.get("short") == "1"
        await asyncio.sleep(0.3)
        assert await kv.get("short") is None
        assert await kv.delete("short") is False
        assert await kv.get("long") == "2"
        assert await kv.get("kept") == "4"
        await kv.delete("long")
        await kv.delete("kept")

    async def test_ttl_must_be_positive(self, kv: KeyValueStore) -> None:
        for ttl in (0, -1.0):
            with pytest.raises(ValueError):
                await kv.set("k", "v", ttl_seconds=ttl)

    async def test_check(self, kv: KeyValueStore) -> None:
        await kv.check()
