"""What only one bus implementation has: in-memory flush semantics, NATS connection errors."""

from __future__ import annotations

import asyncio

import pytest

from tests.backends import real_service_url
from venta_core.ports import bus_nats
from venta_core.ports.bus import BusMessage
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.ports.bus_nats import NatsEventBus


async def test_memory_flush_waits_until_handled_and_publish_never_waits() -> None:
    bus = MemoryEventBus()
    done: list[bytes] = []

    async def slow(message: BusMessage) -> None:
        await asyncio.sleep(0.02)
        done.append(message.data)

    await bus.subscribe("jobs", slow)
    for i in range(5):
        await bus.publish("jobs", bytes([i]))
    assert done == []  # publishing never waited for a handler
    await bus.flush()
    assert done == [bytes([i]) for i in range(5)]
    await bus.stop()


async def test_memory_flush_covers_messages_published_by_handlers() -> None:
    bus = MemoryEventBus()
    seen: list[str] = []

    async def relay(message: BusMessage) -> None:
        await bus.publish("b", message.data)

    async def sink(message: BusMessage) -> None:
        seen.append(message.subject)

    await bus.subscribe("a", relay)
    await bus.subscribe("b", sink)
    await bus.publish("a", b"1")
    await bus.flush()
    assert seen == ["b"]
    await bus.stop()


async def test_memory_flush_inside_a_handler_is_an_error() -> None:
    bus = MemoryEventBus()
    errors: list[BaseException] = []

    async def flushes(message: BusMessage) -> None:
        try:
            await bus.flush()
        except RuntimeError as exc:
            errors.append(exc)

    await bus.subscribe("x", flushes)
    await bus.publish("x", b"")
    await bus.flush()
    assert len(errors) == 1
    await bus.stop()


async def test_memory_stop_cancels_pending_deliveries() -> None:
    bus = MemoryEventBus()
    started = asyncio.Event()

    async def forever(message: BusMessage) -> None:
        started.set()
        await asyncio.sleep(3600)

    await bus.subscribe("x", forever)
    await bus.publish("x", b"")
    await bus.publish("x", b"")
    await started.wait()
    await asyncio.wait_for(bus.stop(), 1)
    await asyncio.wait_for(bus.flush(), 1)
    await bus.publish("x", b"")  # nobody listens any more


async def test_nats_unreachable_is_a_clear_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bus_nats, "CONNECT_TIMEOUT_S", 0.5)
    bus = NatsEventBus("nats://app:s3cret@127.0.0.1:1")
    with pytest.raises(ConnectionError) as caught:
        await bus.start()
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "s3cret" not in repr(bus)
    with pytest.raises(RuntimeError):
        bus.nc  # noqa: B018 - the property raises before start
    await bus.stop()


async def test_nats_exposes_its_client_and_stops_twice() -> None:
    bus = NatsEventBus(real_service_url("nats"))
    await bus.start()
    assert bus.nc.is_connected
    await bus.check()
    await bus.stop()
    await bus.stop()
    with pytest.raises(RuntimeError):
        await bus.check()
