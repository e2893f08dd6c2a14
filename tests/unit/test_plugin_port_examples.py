"""The port hook examples of docs/plugins.md work: each block is run, its ``plugin`` given to an
application, and the port it provides is used (on the real Redis and NATS where it needs them)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import delete_streams
from venta_core.app import Venta
from venta_core.ports.bus import BusMessage
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.kv_redis import RedisKeyValue
from venta_core.ports.stream_memory import MemoryEventStream
from venta_core.settings import Settings
from venta_core.testing import embedded_settings

from .test_plugin_docs import DOC, _sections

PORT_HOOKS = [
    "venta_geo_index",
    "venta_key_value_store",
    "venta_presence_store",
    "venta_event_bus",
    "venta_event_stream",
]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def example(hook: str) -> dict[str, Any]:
    """The namespace of the one Python block of ``hook``'s section."""
    (code,) = BLOCK.findall(_sections()[hook][1])
    namespace: dict[str, Any] = {"__name__": f"example_{hook}"}
    exec(compile(code, f"{DOC}:{hook}", "exec"), namespace)
    return namespace


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    prefix = f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}"
    return embedded_settings(tmp_path / "venta.db", key_prefix=prefix, **overrides)


def build(tmp_path: Path, hook: str, **overrides: Any) -> tuple[Venta, object]:
    plugin = example(hook)["plugin"]
    app = Venta(settings_for(tmp_path, **overrides), plugins=[plugin], load_entry_points=False)
    return app, plugin


def test_each_port_hook_has_one_example() -> None:
    assert all(len(BLOCK.findall(_sections()[hook][1])) == 1 for hook in PORT_HOOKS)


async def test_the_geo_index_example_counts_the_calls_of_the_index_it_wraps(
    tmp_path: Path,
) -> None:
    app, plugin = build(tmp_path, "venta_geo_index")

    async with app:
        await app.geo.set("v1", 52.52, 13.405)
        assert await app.geo.count() == 1

    assert app.providers["venta_geo_index"] == app.pm.get_name(plugin)
    assert app.geo.inner.__class__.__name__ == "MemoryGeoIndex"  # type: ignore[attr-defined]
    calls = app.geo.calls  # type: ignore[attr-defined]
    assert calls["set"] == 1 and calls["count"] == 1
    assert calls["claim_refill"] == 1  # the start-up refill of the new, empty index


async def test_the_key_value_example_uses_the_shared_redis_connection(tmp_path: Path) -> None:
    embedded, _ = build(tmp_path, "venta_key_value_store")
    app, plugin = build(tmp_path, "venta_key_value_store", redis_url=real_service_url("redis"))

    async with app:
        decision = await app.kv.hit("ip:1", 5, 60)
        client = app.redis_connection().client
        keys = [k async for k in client.scan_iter(match=f"{app.settings.key_prefix}-limits:*")]
        await client.delete(*keys)

    assert embedded.providers["venta_key_value_store"] == "venta_core.builtins.memory"
    assert app.providers["venta_key_value_store"] == app.pm.get_name(plugin)
    assert isinstance(app.kv, RedisKeyValue) and app.kv._conn is app.redis_connection()
    assert decision.allowed and decision.remaining == 4


async def test_the_presence_example_owns_its_redis_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VENTA_PRESENCE_REDIS_URL", real_service_url("redis"))
    app, _ = build(tmp_path, "venta_presence_store")

    async with app:
        await app.presence.hold({"v1": "node/1"}, 30)
        holder = await app.presence.holder("v1")
        await app.presence.hold({"v1": "node/1"}, 0)
        assert await app.presence.take_expired() == ["v1"]

    assert holder == "node/1"
    assert app.connections.made_redis is None  # no VENTA_REDIS_URL: the port has its own


async def test_the_bus_example_fans_out_on_its_own_nats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VENTA_FANOUT_NATS_URL", real_service_url("nats"))
    app, _ = build(tmp_path, "venta_event_bus")
    got: list[BusMessage] = []

    async def handler(message: BusMessage) -> None:
        got.append(message)

    async with app:
        subject = f"{app.settings.key_prefix}.live.u33.v1"
        await app.bus.subscribe(subject, handler)
        await app.bus.publish(subject, b"here")
        await wait_until(lambda: bool(got))

    assert isinstance(app.bus, NatsEventBus) and app.bus.name == "fan-out"
    assert isinstance(app.stream, MemoryEventStream)
    assert app.relay._echo is app.bus  # the stream does not reach the bus by itself


async def test_the_stream_example_keeps_jetstream_on_its_own_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = real_service_url("nats")
    monkeypatch.setenv("VENTA_EVENTS_NATS_URL", url)
    app, plugin = build(tmp_path, "venta_event_stream")

    try:
        async with app:
            assert await app.readiness() == dict.fromkeys(["database", "geo", "kv", "bus"])
            await app.stream.check()
    finally:
        await delete_streams(app.settings, url)

    assert app.providers["venta_event_stream"] == app.pm.get_name(plugin)
    assert app.connections.made_nats is None


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.02)
