"""The event registry: envelopes, decoding, subjects and handler declarations."""

from __future__ import annotations

import json

import pytest

from venta_core.events import (
    EVENT_TYPES,
    EventEnvelope,
    EventHandler,
    MalformedEvent,
    VendorDeletedData,
    decode_event,
    dlq_subject,
    event_subject,
    events_filter,
)


async def _noop(_: EventEnvelope) -> None:
    return None


def test_an_envelope_round_trips_in_the_contract_shape() -> None:
    envelope = EventEnvelope.new("vendor.deleted", VendorDeletedData(id="v1", owner_id="u1"), "r1")

    wire = json.loads(envelope.model_dump_json(by_alias=True))

    assert set(wire) == {"id", "type", "occurredAt", "requestId", "data"}
    assert wire["data"] == {"id": "v1", "ownerId": "u1", "primaryImage": None}
    assert decode_event(envelope.model_dump_json(by_alias=True).encode()) == envelope


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "invalid envelope"),
        (b'{"id": "x"}', "invalid envelope"),
        (
            b'{"id": "x", "type": "vendor.exploded", "occurredAt": "2026-01-01T00:00:00Z", '
            b'"data": {}}',
            "unknown event type",
        ),
        (
            b'{"id": "x", "type": "vendor.deleted", "occurredAt": "2026-01-01T00:00:00Z", '
            b'"data": {"id": "v1"}}',
            "invalid data",
        ),
    ],
)
def test_malformed_events_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode_event(data)


def test_subjects() -> None:
    assert event_subject("venta", "vendor.created") == "venta.events.vendor.created"
    assert dlq_subject("venta", "vendor.created") == "venta.dlq.vendor.created"
    assert events_filter("p", {"vendor.created"}) == "p.events.vendor.created"
    assert events_filter("p", {"vendor.created", "vendor.deleted"}) == "p.events.vendor.*"
    assert events_filter("p", {"vendor.created", "user.deleted"}) == "p.events.>"
    assert events_filter("p", EVENT_TYPES) == "p.events.>"


def test_a_handler_declares_known_types_and_a_consumer_safe_name() -> None:
    handler = EventHandler("audit-log", {"user.created"}, _noop)
    assert handler.event_types == frozenset({"user.created"})

    with pytest.raises(ValueError, match="unknown event types"):
        EventHandler("audit", {"vendor.exploded"}, _noop)
    with pytest.raises(ValueError, match="unknown event types"):
        EventHandler("audit", set(), _noop)
    with pytest.raises(ValueError, match="handler name"):
        EventHandler("audit.log", {"user.created"}, _noop)
    with pytest.raises(ValueError, match="concurrency"):
        EventHandler("audit", {"user.created"}, _noop, concurrency=0)
