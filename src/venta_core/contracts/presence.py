"""The ``PresenceStore`` contract: holds, renewals, grace periods and expired vendors taken
exactly once, whichever process asks.

Subclass ``PresenceContract`` in a test module and provide a ``presence`` fixture yielding a
started, empty store of its own::

    class TestMyPresence(PresenceContract):
        @pytest.fixture
        async def presence(self) -> AsyncIterator[PresenceStore]:
            store = MyPresence(prefix=f"test-{uuid.uuid4().hex}")
            await store.start()
            yield store
            await store.stop()
"""

from __future__ import annotations

import asyncio

import pytest

from venta_core.ports.presence import PresenceStore

__all__ = ["PresenceContract"]


class PresenceContract:
    """The presence store contract; needs a ``presence`` fixture (see the module docstring)."""

    pytestmark = pytest.mark.asyncio

    async def test_a_held_vendor_is_not_taken_until_it_expires(
        self, presence: PresenceStore
    ) -> None:
        await presence.hold({"v1": "node-a/s1", "v2": "node-a/s2"}, 0.3)
        assert await presence.holder("v1") == "node-a/s1"
        assert await presence.holder("v2") == "node-a/s2"
        assert await presence.take_expired() == []
        await asyncio.sleep(0.4)
        assert await presence.holder("v1") is None  # expired, not yet taken
        assert sorted(await presence.take_expired()) == ["v1", "v2"]
        assert await presence.take_expired() == []  # taken once only

    async def test_renewing_keeps_a_vendor(self, presence: PresenceStore) -> None:
        await presence.hold({"v1": "a/1"}, 0.3)
        for _ in range(3):
            await asyncio.sleep(0.15)
            await presence.hold({"v1": "a/1"}, 0.3)
        assert await presence.take_expired() == []
        assert await presence.holder("v1") == "a/1"

    async def test_the_last_holder_wins(self, presence: PresenceStore) -> None:
        await presence.hold({"v1": "a/1"}, 30)
        await presence.hold({"v1": "b/7"}, 30)  # the vendor reconnected to another process
        assert await presence.holder("v1") == "b/7"
        assert not await presence.let_go("v1", "a/1", 0)  # the old connection cannot drop it
        assert await presence.take_expired() == []
        assert await presence.holder("v1") == "b/7"

    async def test_let_go_starts_the_grace_period(self, presence: PresenceStore) -> None:
        await presence.hold({"v1": "a/1", "v2": "a/2"}, 30)
        assert await presence.let_go("v1", "a/1", 0.2)
        assert await presence.take_expired() == []
        await asyncio.sleep(0.3)
        assert await presence.take_expired() == ["v1"]
        assert await presence.holder("v2") == "a/2"
        assert not await presence.let_go("v1", "a/1", 0)  # nobody holds it any more

    async def test_a_reconnect_within_the_grace_period_keeps_the_vendor(
        self,
        presence: PresenceStore,
    ) -> None:
        await presence.hold({"v1": "a/1"}, 30)
        assert await presence.let_go("v1", "a/1", 0.2)
        await presence.hold({"v1": "b/1"}, 30)
        await asyncio.sleep(0.3)
        assert await presence.take_expired() == []
        assert await presence.holder("v1") == "b/1"

    async def test_take_expired_honours_its_limit(self, presence: PresenceStore) -> None:
        await presence.hold({f"v{i}": f"a/{i}" for i in range(5)}, 0)
        first = await presence.take_expired(limit=3)
        rest = await presence.take_expired(limit=3)
        assert len(first) == 3 and len(rest) == 2
        assert sorted(first + rest) == [f"v{i}" for i in range(5)]

    async def test_concurrent_takers_share_out_each_vendor_once(
        self, presence: PresenceStore
    ) -> None:
        await presence.hold({f"v{i}": "a/1" for i in range(200)}, 0)
        results = await asyncio.gather(*(presence.take_expired(limit=7) for _ in range(40)))
        taken = [v for batch in results for v in batch]
        assert len(taken) == len(set(taken)) == 200

    async def test_large_renewals(self, presence: PresenceStore) -> None:
        await presence.hold({f"v{i}": f"a/{i}" for i in range(1200)}, 30)
        assert await presence.holder("v1199") == "a/1199"
        assert await presence.take_expired() == []

    @pytest.mark.parametrize("seconds", [-1.0, float("nan")])
    async def test_bad_durations_are_refused(self, presence: PresenceStore, seconds: float) -> None:
        with pytest.raises(ValueError):
            await presence.hold({"v1": "a/1"}, seconds)
        with pytest.raises(ValueError):
            await presence.let_go("v1", "a/1", seconds)
        with pytest.raises(ValueError):
            await presence.take_expired(limit=0)
