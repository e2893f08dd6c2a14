"""``Presence`` on the in-process store: grace periods, renewals, and the sweep's retries."""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime.harness import plain_session
from venta_core.ports.presence_memory import MemoryPresence
from venta_core.transports.realtime import presence as presence_module
from venta_core.transports.realtime.presence import Presence
from venta_core.transports.realtime.session import Session


def _session(sid: str) -> Session:
    return plain_session(sid, "/vendor")


class Offline:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[str] = []
        self.failures = failures

    async def __call__(self, vendor_id: str) -> None:
        self.calls.append(vendor_id)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("location service unreachable")


def _presence(store: MemoryPresence, offline: Offline, **kwargs: float) -> Presence:
    values = {"ttl_seconds": 30.0, "grace_seconds": 0.1, "sweep_seconds": 0.05} | kwargs
    return Presence(store, on_offline=offline, **values)


async def test_a_dropped_connection_goes_offline_after_the_grace_period() -> None:
    store, offline = MemoryPresence(), Offline()
    presence = _presence(store, offline)
    await presence.start()
    try:
        session = _session("s1")
        session.vendors.add("v1")
        await presence.online(session, "v1")
        await asyncio.sleep(0.2)
        assert offline.calls == []
        presence.disconnected(session)
        await asyncio.sleep(0.05)
        assert offline.calls == []  # still within the grace period
        await asyncio.sleep(0.3)
        assert offline.calls == ["v1"]
    finally:
        await presence.stop()


async def test_renewals_keep_connected_vendors_past_their_ttl() -> None:
    store, offline = MemoryPresence(), Offline()
    presence = _presence(store, offline, ttl_seconds=0.3)
    await presence.start()
    try:
        session = _session("s1")
        session.vendors.add("v1")
        await presence.online(session, "v1")
        await asyncio.sleep(0.8)
        assert offline.calls == []
        assert await store.holder("v1") == presence.token(session)
    finally:
        await presence.stop()


async def test_a_stopping_process_leaves_its_vendors_to_expire() -> None:
    store, offline = MemoryPresence(), Offline()
    presence = _presence(store, offline)
    session = _session("s1")
    session.vendors.add("v1")
    await presence.online(session, "v1")
    presence.stopping = True
    presence.disconnected(session)
    await asyncio.sleep(0.2)
    assert await store.holder("v1") == presence.token(session)  # another process may take it


async def test_a_failed_removal_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presence_module, "RETRY_SECONDS", 0.1)
    store, offline = MemoryPresence(), Offline(failures=1)
    presence = _presence(store, offline)
    await store.hold({"v1": "crashed/1"}, 0)
    assert await presence.sweep() == 1
    assert offline.calls == ["v1"]
    assert await presence.sweep() == 0  # back in the store, not yet due
    await asyncio.sleep(0.15)
    assert await presence.sweep() == 1
    assert offline.calls == ["v1", "v1"]
    assert await store.take_expired() == []


async def test_a_sweep_takes_more_than_one_batch() -> None:
    store, offline = MemoryPresence(), Offline()
    presence = _presence(store, offline)
    await store.hold({f"v{i}": "crashed/1" for i in range(2500)}, 0)
    assert await presence.sweep() == 2500
    assert sorted(offline.calls) == sorted(f"v{i}" for i in range(2500))
