"""``GET /asyncapi.json``: a structurally valid AsyncAPI 3.0 document naming every event the
gateway handles and emits, with the schema of the model behind it, and payloads a live
gateway sends that validate against those schemas."""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from prometheus_client import CollectorRegistry

from tests.realtime.harness import Server, box, client, subject
from venta_core.app import Venta
from venta_core.errors import ERROR_TABLE
from venta_core.transports.realtime import asyncapi
from venta_core.transports.realtime.gateway import RealtimeGateway
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.protocol import USER_NS, VENDOR_NS

REALTIME_SRC = Path(asyncapi.__file__).parent
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")
CONNECTION_EVENTS = {"connect", "disconnect", "*"}


@pytest.fixture
async def document(venta_http: httpx.AsyncClient) -> dict[str, Any]:
    response = await venta_http.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_structurally_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    for server in document["servers"].values():
        assert server["host"] and server["protocol"] in ("ws", "wss")
        for scheme in server["security"]:
            assert _resolve(document, scheme["$ref"])["type"] == "http"
    for name, channel in document["channels"].items():
        assert COMPONENT_KEY.match(name)
        assert channel["address"] in (USER_NS, VENDOR_NS)
        for message in channel["messages"].values():
            _resolve(document, message["$ref"])
    for name, operation in document["operations"].items():
        assert COMPONENT_KEY.match(name)
        assert operation["action"] in ("send", "receive")
        channel_ref = operation["channel"]["$ref"]
        _resolve(document, channel_ref)
        for message in operation["messages"]:  # messages of the operation's own channel
            assert message["$ref"].startswith(channel_ref + "/messages/")
    for section, entries in document["components"].items():
        assert all(COMPONENT_KEY.match(key) for key in entries), section
    refs = list(_refs(document))
    assert len(refs) > 20
    for ref in refs:
        _resolve(document, ref)


def _operations(document: dict[str, Any], action: str) -> dict[str, set[str]]:
    """namespace -> event names of the operations with ``action``."""
    found: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        channel = _resolve(document, operation["channel"]["$ref"])
        for ref in operation["messages"]:
            message = _resolve(document, _resolve(document, ref["$ref"])["$ref"])
            found.setdefault(channel["address"], set()).add(message["name"])
    return found


def _payload_schema(document: dict[str, Any], namespace: str, event: str) -> dict[str, Any]:
    message = document["components"]["messages"][asyncapi.message_key(namespace, event)]
    schema: dict[str, Any] = _resolve(document, message["payload"]["$ref"])
    return schema


async def test_every_event_the_gateway_handles_is_received(
    document: dict[str, Any], venta_app: Venta
) -> None:
    gateway = RealtimeGateway(venta_app, RealtimeMetrics(CollectorRegistry()))
    handled = {
        ns: set(handlers) - CONNECTION_EVENTS for ns, handlers in gateway.sio.handlers.items()
    }
    assert handled == _operations(document, "receive")
    for ns, events in handled.items():
        for event in events:
            model = asyncapi.CLIENT_EVENTS[ns][event]
            expected = model.model_json_schema(ref_template=asyncapi.SCHEMA_REF)
            expected.pop("$defs", None)
            assert _payload_schema(document, ns, event) == expected


def _emitted() -> dict[str, set[str]]:
    """namespace -> event names of every ``Outgoing(namespace, "event", ...)`` in the gateway's
    source (an event name in a variable is not seen); a namespace that is not a constant
    (``session.namespace``) means both."""
    names = {"USER_NS": {USER_NS}, "VENDOR_NS": {VENDOR_NS}}
    found: dict[str, set[str]] = {}
    for path in REALTIME_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Outgoing"):
                continue
            ns_arg, event_arg = node.args[0], node.args[1]
            if not isinstance(event_arg, ast.Constant):
                continue
            key = ns_arg.id if isinstance(ns_arg, ast.Name) else ""
            for ns in names.get(key, {USER_NS, VENDOR_NS}):
                found.setdefault(ns, set()).add(event_arg.value)
    return found


def test_every_event_the_gateway_emits_is_sent(document: dict[str, Any]) -> None:
    emitted = _emitted()
    assert {"vendor_sync", "vendor_left", "error"} <= emitted[USER_NS]
    sent = _operations(document, "send")
    for ns, events in emitted.items():
        assert events <= sent[ns], (ns, events - sent[ns])
    for ns, events in sent.items():
        for event in events:
            model = asyncapi.SERVER_EVENTS[ns][event]
            expected = model.model_json_schema(
                ref_template=asyncapi.SCHEMA_REF, mode="serialization"
            )
            expected.pop("$defs", None)
            schema = copy.deepcopy(_payload_schema(document, ns, event))
            if event == "error":
                assert schema["properties"]["code"].pop("examples") == sorted(ERROR_TABLE)
            assert schema == expected


def _validator(document: dict[str, Any], ns: str, event: str) -> Any:
    message = document["components"]["messages"][asyncapi.message_key(ns, event)]
    root = {"$ref": message["payload"]["$ref"], "components": document["components"]}
    return jsonschema_rs.validator_for(root)


async def test_what_a_live_gateway_sends_matches_the_schemas(server: Server) -> None:
    document = asyncapi.asyncapi_document(version="test")
    owner = subject()
    vendor_id = await server.vendor(owner)
    view = box((52.50, 13.38), (52.54, 13.43))
    async with (
        client(server, "/user", server.token(subject())) as watcher,
        client(server, "/vendor", server.token(owner)) as vendor,
    ):
        update = {"vendorId": vendor_id, "lat": 52.52, "long": 13.40}
        _validator(document, VENDOR_NS, "updateVendorLocation").validate(update)
        await vendor.emit("updateVendorLocation", update)
        await server.located(vendor_id, 52.52, 13.40)
        _validator(document, USER_NS, "updateUserLocation").validate(view)
        await watcher.emit("updateUserLocation", view)
        channels = await watcher.next("vendor_channels")
        assert [item["id"] for item in channels] == [vendor_id]
        _validator(document, USER_NS, "vendor_channels").validate(channels)
        await vendor.emit("updateVendorLocation", {**update, "lat": 52.53})
        _validator(document, USER_NS, "vendor_sync").validate(await watcher.next("vendor_sync"))
        await vendor.emit("updateVendorLocation", {**update, "lat": 10.0})
        _validator(document, USER_NS, "vendor_left").validate(await watcher.next("vendor_left"))
        await watcher.emit("updateUserLocation", {"neLocation": "here"})
        error = await watcher.next("error")
        assert error["code"] == "VALIDATION_ERROR"
        _validator(document, USER_NS, "error").validate(error)
        bad = _validator(document, USER_NS, "updateUserLocation")
        assert not bad.is_valid({"neLocation": "here"})
