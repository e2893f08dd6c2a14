"""Dropped sessions kept for recovery: taken once, gone after the window, and a failing store
means a fresh session rather than an error."""

from __future__ import annotations

import asyncio

from venta_core.errors import ServiceUnavailable
from venta_core.ports.kv_memory import MemoryKeyValue
from venta_core.transports.realtime.recovery import RecoveryStore, Saved, new_pid


def saved() -> Saved:
    return Saved(
        sid="s1", namespace="/user", user_id="u1", view=(52.5, 13.38, 52.54, 13.43), known=["a"]
    )


async def test_a_saved_session_is_taken_once() -> None:
    store = RecoveryStore(MemoryKeyValue(), window_seconds=30)
    pid = new_pid()
    await store.save(pid, saved())
    assert await store.peek(pid) == saved()
    assert await store.take(pid) is True
    assert await store.take(pid) is False
    assert await store.peek(pid) is None
    assert await store.peek(new_pid()) is None


async def test_it_is_gone_after_the_window() -> None:
    store = RecoveryStore(MemoryKeyValue(), window_seconds=0.2)
    pid = new_pid()
    await store.save(pid, saved())
    await asyncio.sleep(0.3)
    assert await store.peek(pid) is None
    assert await store.take(pid) is False


class Down(MemoryKeyValue):
    async def get(self, key: str) -> str | None:
        raise ServiceUnavailable("redis")

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        raise ServiceUnavailable("redis")

    async def delete(self, key: str) -> bool:
        raise ServiceUnavailable("redis")


async def test_a_store_that_is_down_means_no_recovery() -> None:
    store = RecoveryStore(Down(), window_seconds=30)
    pid = new_pid()
    await store.save(pid, saved())
    assert await store.peek(pid) is None
    assert await store.take(pid) is False


async def test_a_record_that_does_not_decode_is_ignored() -> None:
    kv = MemoryKeyValue()
    store = RecoveryStore(kv, window_seconds=30)
    await kv.set("ws:recovery:x", '{"sid": 1}', 30)
    assert await store.peek("x") is None
