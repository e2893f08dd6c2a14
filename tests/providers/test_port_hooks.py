"""Every port comes from a hook: the built-ins answer by URL, ``trylast``; a plugin replaces
any of them; the shared Redis and NATS connections stay one each, started only when used."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import delete_streams
from venta_core import hookimpl
from venta_core.app import Venta
from venta_core.builtins.search import DatabaseSearchIndex
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.ports.bus_nats import NatsEventBus
from venta_core.ports.geo_memory import MemoryGeoIndex
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.ports.kv_memory import MemoryKeyValue
from venta_core.ports.kv_redis import RedisKeyValue
from venta_core.ports.presence_memory import MemoryPresence
from venta_core.ports.presence_redis import RedisPresence
from venta_core.ports.redis_conn import RedisConnection
from venta_core.ports.stream_jetstream import JetStreamEventStream
from venta_core.ports.stream_memory import MemoryEventStream
from venta_core.providers import MissingPort, first_answer
from venta_core.relay import OutboxRelay
from venta_core.services.geo_refill import GeoRefill
from venta_core.services.locations import LocalLocationService
from venta_core.settings import Settings
from venta_core.store.engine import Database
from venta_core.store.positions import PositionWriteBehind
from venta_core.testing import embedded_settings

PORTS = [
    "venta_geo_index",
    "venta_key_value_store",
    "venta_presence_store",
    "venta_event_bus",
    "venta_event_stream",
]
#: The components after the ports, the same whichever plugin provides them.
TAIL = [DatabaseSearchIndex, GeoRefill, LocalLocationService, OutboxRelay, PositionWriteBehind]


def kinds(app: Venta) -> list[type]:
    """The component types in start order, the two write-behinds counted once."""
    types = [type(c) for c in app.components()]
    assert types[-2:] == [PositionWriteBehind, PositionWriteBehind]
    return types[:-1]


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return embedded_settings(tmp_path / "venta.db", **overrides)


def test_embedded_ports_come_from_the_in_process_builtin(tmp_path: Path) -> None:
    app = Venta(settings_for(tmp_path), load_entry_points=False)

    assert app.providers == {
        "venta_identity_provider": "venta_core.builtins.identity",
        **dict.fromkeys(PORTS, "venta_core.builtins.memory"),
        "venta_search_index": "venta_core.builtins.search",
        "venta_upload_store": "venta_core.builtins.uploads",
    }
    assert kinds(app) == [
        Database,
        MemoryGeoIndex,
        MemoryKeyValue,
        MemoryPresence,
        MemoryEventBus,
        MemoryEventStream,
        *TAIL,
    ]
    assert list(app.checks()) == ["database", "geo", "kv", "bus"]
    assert app.connections.made_redis is None and app.connections.made_nats is None
    assert app.relay._echo is app.bus  # the in-process stream reaches the bus through the relay
    assert app.port_providers()["venta_upload_store"] == "venta_core.builtins.uploads"


@pytest.mark.integration
async def test_real_services_share_one_redis_and_one_nats_connection(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        redis_url=real_service_url("redis"),
        nats_url=real_service_url("nats"),
        key_prefix=f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
    )
    app = Venta(settings, load_entry_points=False)

    assert {hook: app.providers[hook] for hook in PORTS} == {
        "venta_geo_index": "venta_core.builtins.redis",
        "venta_key_value_store": "venta_core.builtins.redis",
        "venta_presence_store": "venta_core.builtins.redis",
        "venta_event_bus": "venta_core.builtins.nats",
        "venta_event_stream": "venta_core.builtins.nats",
    }
    redis = app.redis_connection()
    assert app.geo._conn is app.kv._conn is app.presence._conn is redis  # type: ignore[attr-defined]
    assert app.nats_connection() is app.bus
    assert app.stream._bus is app.bus  # type: ignore[attr-defined]
    assert app.relay._echo is None  # JetStream delivers to the bus's subscribers itself
    assert kinds(app) == [
        Database,
        RedisConnection,
        RedisGeoIndex,
        RedisKeyValue,
        RedisPresence,
        NatsEventBus,
        JetStreamEventStream,
        *TAIL,
    ]
    try:
        async with app:
            assert await app.readiness() == dict.fromkeys(["database", "redis", "geo", "kv", "bus"])
            await app.geo.set("v1", 52.5, 13.4)
            assert await app.geo.count() == 1
            await app.geo.clear()
    finally:
        await delete_streams(settings)


class KeyValueOnly:
    """A plugin providing the key-value store; it sees the application being built."""

    def __init__(self) -> None:
        self.store = MemoryKeyValue()
        self.seen: list[Venta] = []

    @hookimpl
    def venta_key_value_store(self, app: Venta) -> Any:
        self.seen.append(app)
        return self.store


class InProcessRedisPorts:
    """Provides the three ports that would otherwise share the Redis connection."""

    @hookimpl
    def venta_geo_index(self, app: Venta) -> Any:
        return MemoryGeoIndex()

    @hookimpl
    def venta_key_value_store(self, app: Venta) -> Any:
        return MemoryKeyValue()

    @hookimpl
    def venta_presence_store(self, app: Venta) -> Any:
        return MemoryPresence()


class Declines:
    """Answers every port hook with ``None``: the built-ins stay."""

    @hookimpl
    def venta_geo_index(self, app: Venta) -> Any:
        return None

    @hookimpl
    def venta_event_bus(self, app: Venta) -> Any:
        return None


def test_a_plugin_replaces_one_port_and_is_named_as_its_provider(tmp_path: Path) -> None:
    plugin = KeyValueOnly()

    app = Venta(settings_for(tmp_path), plugins=[plugin], load_entry_points=False)

    assert app.kv is plugin.store
    assert plugin.seen == [app]
    plugin_name = app.pm.get_name(plugin)
    assert app.providers["venta_key_value_store"] == plugin_name
    assert app.providers["venta_geo_index"] == "venta_core.builtins.memory"
    assert app.port_providers()["venta_key_value_store"] == plugin_name


def test_a_plugin_answering_none_leaves_the_builtin(tmp_path: Path) -> None:
    app = Venta(settings_for(tmp_path), plugins=[Declines()], load_entry_points=False)

    assert isinstance(app.geo, MemoryGeoIndex) and isinstance(app.bus, MemoryEventBus)
    assert app.providers["venta_geo_index"] == "venta_core.builtins.memory"


async def test_the_redis_connection_is_made_only_when_a_port_uses_it(tmp_path: Path) -> None:
    """Nothing listens on the URL: the app starts because no port asked for the connection."""
    settings = settings_for(tmp_path, redis_url="redis://127.0.0.1:1/0")

    async with Venta(settings, plugins=[InProcessRedisPorts()], load_entry_points=False) as app:
        assert app.connections.made_redis is None
        assert "redis" not in app.checks()
        assert not any(isinstance(c, RedisConnection) for c in app.components())
        assert set((await app.readiness()).values()) == {None}


def test_blocking_the_in_process_builtin_without_replacement_fails_in_one_line(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, plugins_blocked=["venta_core.builtins.memory"])

    with pytest.raises(MissingPort) as caught:
        Venta(settings, load_entry_points=False)

    assert str(caught.value) == (
        "no plugin provides the geo index (hook venta_geo_index); "
        "VENTA_PLUGINS_BLOCKED blocks venta_core.builtins.memory"
    )


def test_a_configured_url_never_falls_back_to_an_in_process_port(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, nats_url="nats://127.0.0.1:1", plugins_blocked=["venta_core.builtins.nats"]
    )

    with pytest.raises(MissingPort, match=r"event bus \(hook venta_event_bus\)"):
        Venta(settings, load_entry_points=False)


def test_a_replacement_makes_blocking_the_builtin_harmless(tmp_path: Path) -> None:
    blocked = settings_for(tmp_path, plugins_blocked=["venta_core.builtins.memory"])
    replacement = InProcessRedisPorts()

    class RestOfThem:
        @hookimpl
        def venta_event_bus(self, app: Venta) -> Any:
            return MemoryEventBus()

        @hookimpl
        def venta_event_stream(self, app: Venta) -> Any:
            return MemoryEventStream([])

    app = Venta(blocked, plugins=[replacement, RestOfThem()], load_entry_points=False)

    assert app.providers["venta_geo_index"] == app.pm.get_name(replacement)
    assert "venta_core.builtins.memory" not in app.providers.values()


def test_first_answer_can_pass_over_a_plugin_to_wrap_what_the_others_provide(
    tmp_path: Path,
) -> None:
    plugin = KeyValueOnly()
    app = Venta(settings_for(tmp_path), plugins=[plugin], load_entry_points=False)

    mine = first_answer(app.pm, "venta_key_value_store", app=app)
    others = first_answer(app.pm, "venta_key_value_store", skip=[plugin], app=app)

    assert mine is not None and mine.value is plugin.store
    assert others is not None and others.plugin == "venta_core.builtins.memory"
    assert isinstance(others.value, MemoryKeyValue) and others.value is not plugin.store


def test_port_hooks_cannot_be_wrapped(tmp_path: Path) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def venta_geo_index(self, app: Venta) -> Any:
            return (yield)

    with pytest.raises(TypeError, match="port hooks cannot be wrapped"):
        Venta(settings_for(tmp_path), plugins=[Wrapper()], load_entry_points=False)
