"""Plugins extend the real-time gateway (``venta_realtime_handlers``, ``venta_vendor_presence``):
their events run like the built-in ones, over a real Socket.IO client, on the embedded backends
and, when configured, on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field

from tests.realtime.harness import TIMEOUT, Server, client, realtime_settings, running, subject
from tests.spans import named, recording_spans
from venta_core import Emit, RealtimeCaller, RealtimeHandler, hookimpl
from venta_core.errors import Forbidden
from venta_core.settings import Settings, SettingsError


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1, max_length=20)


class Ping(BaseModel):
    n: int


class NotesPlugin:
    """A ``/user`` event answered with an acknowledgement, a ``/vendor`` one answered with an
    event, one that refuses, one that fails; and the vendors it saw go online and offline."""

    def __init__(self) -> None:
        self.presence: list[tuple[str, bool]] = []

    @hookimpl
    def venta_realtime_handlers(self, app: Any) -> list[RealtimeHandler[Any]]:
        async def note(caller: RealtimeCaller, payload: Note) -> dict[str, str]:
            return {"text": payload.text.upper(), "userId": caller.user_id}

        async def ping(caller: RealtimeCaller, payload: Ping) -> Emit:
            return Emit("pong", {"n": payload.n + 1, "namespace": caller.namespace})

        async def refuse(caller: RealtimeCaller, payload: Note) -> None:
            raise Forbidden(f"No {payload.text}")

        async def fail(caller: RealtimeCaller, payload: Note) -> None:
            raise RuntimeError("a bug in a plugin")

        return [
            RealtimeHandler("/user", "note", Note, note),
            RealtimeHandler("/vendor", "ping", Ping, ping),
            RealtimeHandler("/user", "refuse", Note, refuse),
            RealtimeHandler("/user", "fail", Note, fail),
        ]

    @hookimpl
    async def venta_vendor_presence(self, app: Any, vendor_id: str, online: bool) -> None:
        self.presence.append((vendor_id, online))


@pytest.fixture
def plugin() -> NotesPlugin:
    return NotesPlugin()


@pytest.fixture
async def server(backend_settings: Settings, plugin: NotesPlugin) -> AsyncIterator[Server]:
    settings = realtime_settings(
        backend_settings,
        user_messages_per_minute=6,
        offline_grace_seconds=0.2,
        presence_sweep_seconds=0.1,
    )
    async with running(settings, plugins=[plugin]) as srv:
        yield srv


async def test_an_event_is_acknowledged_with_the_callers_identity(server: Server) -> None:
    who = subject()
    async with client(server, "/user", server.token(who)) as user:
        answer = await user.sio.call("note", {"text": "hello"}, namespace="/user", timeout=TIMEOUT)

    me = await server.app.users.ensure_user(who)
    assert answer == {"text": "HELLO", "userId": me.id}


async def test_an_event_may_answer_with_an_event(server: Server) -> None:
    async with client(server, "/vendor", server.token(subject())) as vendor:
        await vendor.emit("ping", {"n": 41})

        assert await vendor.next("pong") == {"n": 42, "namespace": "/vendor"}


@pytest.mark.parametrize(
    "payload", [None, "hello", [], {}, {"text": ""}, {"text": 5}, {"text": "x" * 21}, {"x": 1}]
)
async def test_a_bad_payload_is_an_error_event_and_the_connection_stays(
    server: Server, payload: Any
) -> None:
    async with client(server, "/user", server.token(subject())) as user:
        await user.emit("note", payload)

        error = await user.next("error")
        assert error["code"] == "VALIDATION_ERROR"
        answer = await user.sio.call("note", {"text": "ok"}, namespace="/user", timeout=TIMEOUT)
        assert answer["text"] == "OK" and user.connected


async def test_errors_and_failures_of_a_handler(server: Server) -> None:
    async with client(server, "/user", server.token(subject())) as user:
        await user.emit("refuse", {"text": "way"})
        refused = await user.next("error")
        await user.emit("fail", {"text": "now"})
        failed = await user.next("error")

        assert refused == {"code": "FORBIDDEN", "message": "No way"}
        assert failed == {"code": "INTERNAL", "message": "Internal error"}
        assert user.connected


async def test_plugin_events_count_against_the_identitys_rate_limit(server: Server) -> None:
    """6 messages a minute on /user, built-in and plugin events together."""
    async with client(server, "/user", server.token(subject())) as user:
        for n in range(6):
            await user.emit("note", {"text": f"n{n}"})
        await user.emit("note", {"text": "one too many"})

        error = await user.next("error")
        assert error["code"] == "RATE_LIMITED"


async def test_the_events_are_only_on_their_namespace(server: Server) -> None:
    async with client(server, "/vendor", server.token(subject())) as vendor:
        await vendor.emit("note", {"text": "hello"})

        error = await vendor.next("error")
        assert error == {"code": "VALIDATION_ERROR", "message": 'Unknown event "note" on /vendor'}


async def test_a_vendor_going_online_and_offline_is_told_to_plugins(
    server: Server, plugin: NotesPlugin
) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with client(server, "/vendor", server.token(owner)) as vendor:
        await vendor.emit(
            "updateVendorLocation", {"vendorId": vendor_id, "lat": 52.5, "long": 13.4}
        )
        await server.located(vendor_id, 52.5, 13.4)
        await vendor.emit(
            "updateVendorLocation", {"vendorId": vendor_id, "lat": 52.6, "long": 13.4}
        )
        await server.located(vendor_id, 52.6, 13.4)

    for _ in range(int(TIMEOUT / 0.02)):  # the grace period passes, a sweep takes it offline
        if (vendor_id, False) in plugin.presence:
            break
        await asyncio.sleep(0.02)
    assert [p for p in plugin.presence if p[0] == vendor_id] == [
        (vendor_id, True),
        (vendor_id, False),
    ]


@pytest.mark.parametrize(
    ("namespace", "event", "message"),
    [
        ("/admin", "note", "the namespace is '/user' or '/vendor'"),
        ("/user", "updateUserLocation", "the name is taken"),
        ("/user", "connect", "the name is taken"),
        ("/user", "bad name", "a name of 1-64 letters"),
    ],
)
async def test_a_handler_that_cannot_be_registered_stops_the_start(
    backend_settings: Settings, namespace: str, event: str, message: str
) -> None:
    class Wrong:
        @hookimpl
        def venta_realtime_handlers(self, app: Any) -> list[RealtimeHandler[Any]]:
            async def handle(caller: RealtimeCaller, payload: Note) -> None:
                return None

            return [RealtimeHandler(namespace, event, Note, handle)]

    with pytest.raises(SettingsError, match=message):
        async with running(realtime_settings(backend_settings), plugins=[Wrong()]):
            pass


async def test_a_plugin_event_runs_in_a_server_span_as_built_in_ones_do(server: Server) -> None:
    with recording_spans() as spans:
        async with client(server, "/user", server.token(subject())) as user:
            await user.sio.call("note", {"text": "hi"}, namespace="/user", timeout=TIMEOUT)
            await user.emit("refuse", {"text": "x"})
            await user.next("error")

    ok, refused = named(spans, "note /user"), named(spans, "refuse /user")
    assert len(ok) == len(refused) == 1
    assert ok[0].kind is trace.SpanKind.SERVER
    assert (refused[0].attributes or {})["error.type"] == "FORBIDDEN"


async def test_plugin_events_are_in_the_asyncapi_document(
    backend_settings: Settings, plugin: NotesPlugin
) -> None:
    settings = realtime_settings(backend_settings)
    async with (
        running(settings, roles=("gateway", "ws"), plugins=[plugin]) as srv,
        httpx.AsyncClient(base_url=srv.url) as http,
    ):
        document = (await http.get("/asyncapi.json")).json()

    operations = document["operations"]
    for key in ("user.note", "vendor.ping", "user.refuse", "user.fail"):
        assert operations[key]["action"] == "receive", key
    assert "note" in document["channels"]["user"]["messages"]
    note = document["components"]["messages"]["user.note"]
    assert note["summary"] == "A plugin's event (Note)."
    root = {"$ref": note["payload"]["$ref"], "components": document["components"]}
    validator = jsonschema_rs.validator_for(root)
    assert validator.is_valid({"text": "hello"})
    assert not validator.is_valid({"text": ""}) and not validator.is_valid({"x": 1})
    assert operations["user.updateUserLocation"]["action"] == "receive"  # built-ins stay
