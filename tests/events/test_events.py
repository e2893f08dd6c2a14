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


def test_an_event_is_decoded_once_for_every_handler_of_the_process() -> None:
    """Each handler's consumer gets its own delivery of an event: the same bytes give the same
    envelope, whose payload is validated once, and which still equals a fresh one."""
    envelope = EventEnvelope.new("vendor.deleted", VendorDeletedData(id="v1", owner_id="u1"))
    wire = envelope.model_dump_json(by_alias=True).encode()

    first, second = decode_event(wire), decode_event(bytes(bytearray(wire)))

    assert first is second
    assert first.payload() is second.payload()
    assert first.payload() == VendorDeletedData(id="v1", owner_id="u1")
    assert first == envelope and envelope == first
    assert "_venta_payload" not in first.model_dump()


def test_a_malformed_event_is_refused_every_time_it_is_delivered() -> None:
    wire = (
        b'{"id": "x", "type": "vendor.deleted", "occurredAt": "2026-01-01T00:00:00Z", '
        b'"data": {"id": "v1"}}'
    )
    for _ in range(2):
        with pytest.raises(MalformedEvent, match="invalid data"):
            decode_event(wire)


def test_the_decoded_events_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import venta_core.events as events

    monkeypatch.setattr(events, "DECODED_KEPT", 3)
    monkeypatch.setattr(events, "_DECODED", events.OrderedDict())
    wires = [
        EventEnvelope.new("vendor.deleted", VendorDeletedData(id=f"v{n}", owner_id="u"))
        .model_dump_json(by_alias=True)
        .encode()
        for n in range(5)
    ]
    decoded = [decode_event(w) for w in wires]

    assert list(events._DECODED) == wires[2:]
    assert decode_event(wires[0]) is not decoded[0]
    assert decode_event(wires[4]) is decoded[4]
