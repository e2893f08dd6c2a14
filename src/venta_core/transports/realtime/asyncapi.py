"""The Socket.IO protocol as an AsyncAPI 3.0 document (served at ``GET /asyncapi.json``).

One channel per namespace (``/user``, ``/vendor``). Client-to-server events are ``receive``
operations (the server receives them), server-to-client events ``send`` operations; each
message's ``name`` is the Socket.IO event name and its payload the JSON schema of the pydantic
model the gateway validates with (incoming) or the shape it emits (outgoing). Schemas are
generated together with ``models_json_schema`` so shared pieces (``LatLong``) are one component.
Plugins' events (``venta_realtime_handlers``) are listed with the built-in ones, as ``receive``
operations whose payload is the handler's model; what a plugin answers is its own (an
acknowledgement or an event of its choosing) and is not described.

The outgoing shapes have no models in the gateway yet (the hub builds them as dicts once per
fan-out); ``PinItem``, ``PositionItem``, ``ClusterItem``, ``VendorLeft`` and ``ErrorEvent``
describe them here, following CONTRACT.md ("Real-time", "Map-ready additions"). Where
``protocol`` defines a model of the same name, import that one instead of the one here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from venta_core.errors import ERROR_TABLE
from venta_core.transports.realtime.protocol import (
    USER_NS,
    VENDOR_NS,
    ClusterItem,
    PinItem,
    PositionItem,
    UserLocationMessage,
    VendorLocationMessage,
)

__all__ = [
    "CLIENT_EVENTS",
    "SERVER_EVENTS",
    "ClusterItem",
    "ErrorEvent",
    "PinItem",
    "PositionItem",
    "VendorLeft",
    "asyncapi_document",
    "message_key",
]

SCHEMA_REF = "#/components/schemas/{model}"


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class VendorSync(RootModel[PinItem | PositionItem]):
    """``vendor_sync``: a vendor entered the view (a pin) or moved in it (``{id, location}``)."""


class VendorChannels(RootModel[list[PinItem]]):
    """``vendor_channels``: every vendor in the viewport just sent."""


class VendorLeft(_Out):
    """``vendor_left``: the vendor left the viewport, went offline or was deleted."""

    id: str = Field(description="Vendor id (UUID).")


class VendorClusters(RootModel[list[ClusterItem]]):
    """``vendor_clusters``: the answer to a viewport too wide or too dense for pins."""


class ErrorEvent(_Out):
    """``error``: a refused event; the connection stays up unless it is about authentication."""

    code: str = Field(description="Stable error code (see CONTRACT.md, Errors).")
    message: str = Field(description="For humans.")
    details: dict[str, Any] | None = Field(None, description="Which field, limits, ...")


#: namespace -> client-to-server event -> the model the gateway validates it with
CLIENT_EVENTS: dict[str, dict[str, type[BaseModel]]] = {
    USER_NS: {"updateUserLocation": UserLocationMessage},
    VENDOR_NS: {"updateVendorLocation": VendorLocationMessage},
}
#: namespace -> server-to-client event -> the model of what the gateway emits
SERVER_EVENTS: dict[str, dict[str, type[BaseModel]]] = {
    USER_NS: {
        "vendor_channels": VendorChannels,
        "vendor_sync": VendorSync,
        "vendor_left": VendorLeft,
        "vendor_clusters": VendorClusters,
        "error": ErrorEvent,
    },
    VENDOR_NS: {"error": ErrorEvent},
}

_SUMMARIES = {
    "updateUserLocation": "The map viewport; answered with vendor_channels (or vendor_clusters).",
    "updateVendorLocation": "A vendor's live position; stored and fanned out to watchers.",
    "vendor_channels": "Every vendor now in the viewport (answer to updateUserLocation).",
    "vendor_sync": "A vendor in view moved, or entered the view.",
    "vendor_left": "A vendor left the view, went offline or was deleted.",
    "vendor_clusters": "Counts per cell for a viewport too wide or too dense for pins.",
    "error": "A refused event: {code, message, details?}.",
}

AUTH_DESCRIPTION = (
    "A bearer token (a development token from `venta token issue`, or the identity "
    "provider's, e.g. Clerk) in the Socket.IO CONNECT packet's auth payload `{token}`, or an "
    "`Authorization: Bearer` header, or a `token` query parameter. A missing or bad token is "
    "refused with `connect_error` `{message, code, data: {code, message}}`, code "
    "`UNAUTHENTICATED`. An expired token on an event: `error` UNAUTHENTICATED, then disconnect."
)


#: namespace -> event -> model, for the events a client sends (built-in and plugins')
Incoming = dict[str, dict[str, type[BaseModel]]]


def _incoming(plugin_events: Iterable[tuple[str, str, type[BaseModel]]]) -> Incoming:
    """``CLIENT_EVENTS`` and the plugins' ``(namespace, event, payload model)`` on them."""
    table: Incoming = {ns: dict(events) for ns, events in CLIENT_EVENTS.items()}
    for namespace, event, model in plugin_events:
        if namespace in table:
            table[namespace].setdefault(event, model)
    return table


def _summary(event: str, model: type[BaseModel]) -> str:
    """A built-in event's summary; for a plugin's, the first line of its model's docstring."""
    if event in _SUMMARIES:
        return _SUMMARIES[event]
    doc = (model.__doc__ or "").strip().splitlines()
    return doc[0] if doc else f"A plugin's event ({model.__name__})."


def _schemas(incoming_events: Incoming) -> dict[str, Any]:
    incoming: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation") for events in incoming_events.values() for model in events.values()
    ]
    outgoing: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "serialization") for events in SERVER_EVENTS.values() for model in events.values()
    ]
    unique = list(dict.fromkeys([*incoming, *outgoing]))
    _, top = models_json_schema(unique, ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    schemas[ErrorEvent.__name__]["properties"]["code"]["examples"] = sorted(ERROR_TABLE)
    return schemas


def message_key(namespace: str, event: str) -> str:
    """The component name of ``event`` on ``namespace``: ``user.vendor_sync``."""
    return f"{namespace.strip('/')}.{event}"


def _message(namespace: str, event: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "name": event,
        "title": event,
        "summary": _summary(event, model),
        "contentType": "application/json",
        "payload": {"$ref": SCHEMA_REF.format(model=model.__name__)},
        "x-socketio-namespace": namespace,
    }


def _channel(namespace: str, incoming: Incoming) -> dict[str, Any]:
    events = {**incoming[namespace], **SERVER_EVENTS[namespace]}
    who = "a person watching the map" if namespace == USER_NS else "a vendor owner's device"
    return {
        "address": namespace,
        "title": f"Namespace {namespace}",
        "description": f"Socket.IO namespace {namespace}: {who}.",
        "messages": {
            event: {"$ref": f"#/components/messages/{message_key(namespace, event)}"}
            for event in events
        },
    }


def _operations(incoming: Incoming) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for action, table in (("receive", incoming), ("send", SERVER_EVENTS)):
        for namespace, events in table.items():
            channel = namespace.strip("/")
            for event, model in events.items():
                operations[f"{channel}.{event}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": _summary(event, model),
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{event}"}],
                }
    return operations


def asyncapi_document(
    *,
    version: str,
    server_url: str | None = None,
    plugin_events: Iterable[tuple[str, str, type[BaseModel]]] = (),
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document; ``server_url`` (``http://host:port``) names the server;
    ``plugin_events`` are the plugins' ``(namespace, event, payload model)``."""
    host = (server_url or "http://localhost:8000").split("://", 1)[-1].rstrip("/")
    secure = (server_url or "").startswith("https://")
    incoming = _incoming(plugin_events)
    messages = {
        message_key(ns, event): _message(ns, event, model)
        for table in (incoming, SERVER_EVENTS)
        for ns, events in table.items()
        for event, model in events.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "venta real-time (Socket.IO)",
            "version": version,
            "description": (
                "Socket.IO v5 over Engine.IO v4 at path `/socket.io/`. A vendor owner's "
                "device publishes positions on `/vendor`; a map watches its viewport on "
                "`/user`. Error codes: " + ", ".join(sorted(ERROR_TABLE)) + "."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "venta": {
                "host": host,
                "pathname": "/socket.io/",
                "protocol": "wss" if secure else "ws",
                "description": "Engine.IO v4 (`?EIO=4&transport=websocket`).",
                "security": [{"$ref": "#/components/securitySchemes/bearer"}],
            }
        },
        "channels": {ns.strip("/"): _channel(ns, incoming) for ns in (USER_NS, VENDOR_NS)},
        "operations": _operations(incoming),
        "components": {
            "schemas": _schemas(incoming),
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": AUTH_DESCRIPTION,
                }
            },
        },
    }
