"""Domain <-> protobuf round trips, property style: many seeded random values per model."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel

from tests.grpc import strategies as st
from venta_core.domain import Location, SubscriptionStatus, VendorUpdate
from venta_core.errors import ValidationFailed
from venta_core.transports.grpc import codec
from venta_core.transports.grpc.stubs import common_pb2, location_pb2, user_pb2, vendor_pb2

RUNS = 300

CASES: list[tuple[str, Callable[[random.Random], Any], Callable[[Any], Any], Any, Any]] = [
    ("location", st.location, codec.location_to_pb, codec.location_from_pb, common_pb2.Location),
    ("box", st.box, codec.box_to_pb, codec.box_from_pb, common_pb2.BoundingBox),
    ("position", st.position, codec.position_to_pb, codec.position_from_pb,
     common_pb2.VendorPosition),
    ("summary", st.summary, codec.summary_to_pb, codec.summary_from_pb, common_pb2.VendorSummary),
    ("user", st.user, codec.user_to_pb, codec.user_from_pb, user_pb2.User),
    ("subscription", st.subscription, codec.subscription_to_pb, codec.subscription_from_pb,
     user_pb2.Subscription),
    ("subscription_update", st.subscription_update, codec.subscription_update_to_pb,
     codec.subscription_update_from_pb, user_pb2.SubscriptionUpdate),
    ("vendor", st.vendor, codec.vendor_to_pb, codec.vendor_from_pb, vendor_pb2.Vendor),
    ("vendor_create", st.vendor_create, codec.vendor_create_to_pb, codec.vendor_create_from_pb,
     vendor_pb2.VendorCreate),
]  # fmt: skip


def _same(a: Any, b: Any) -> None:
    """Equal values, and datetimes equal as instants *and* timezone-aware."""
    assert a == b
    for name in type(a).model_fields:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, datetime):
            assert y.tzinfo is not None and y.utcoffset() == timedelta(0)
            assert x == y
        elif isinstance(x, BaseModel):
            _same(x, y)
        elif isinstance(x, float):
            assert repr(x) == repr(y)  # bit-exact, -0.0 included


@pytest.mark.parametrize(
    ("name", "gen", "to_pb", "from_pb", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_round_trip_through_the_wire(
    name: str, gen: Any, to_pb: Any, from_pb: Any, message: Any
) -> None:
    rng = random.Random(f"venta-codec-{name}")
    for _ in range(RUNS):
        value = gen(rng)
        wire = to_pb(value).SerializeToString()
        _same(value, from_pb(message.FromString(wire)))


def test_vendor_update_keeps_absent_and_null_apart() -> None:
    rng = random.Random("venta-codec-vendor-update")
    for _ in range(RUNS):
        update = st.vendor_update(rng)
        wire = codec.vendor_update_to_pb(update).SerializeToString()
        back = codec.vendor_update_from_pb(vendor_pb2.VendorUpdate.FromString(wire))
        assert back.changes() == update.changes()
        assert back.model_fields_set == update.model_fields_set
        assert back == update


def test_vendor_update_image_url_alias_travels_as_primary_image() -> None:
    update = VendorUpdate.model_validate({"imageUrl": "https://example.com/i.png"})
    message = codec.vendor_update_to_pb(update)
    assert list(message.update_mask.paths) == ["primary_image"]
    assert codec.vendor_update_from_pb(message).changes() == update.changes()


def test_vendor_update_mask_semantics() -> None:
    update = VendorUpdate.model_validate({"description": None, "name": "N"})
    message = codec.vendor_update_to_pb(update)
    assert sorted(message.update_mask.paths) == ["description", "name"]
    assert not message.HasField("description") and message.name == "N"
    assert not message.HasField("phone")  # absent, not cleared
    empty = codec.vendor_update_to_pb(VendorUpdate())
    assert list(empty.update_mask.paths) == []
    assert codec.vendor_update_from_pb(empty).changes() == {}


@pytest.mark.parametrize(
    "message",
    [
        vendor_pb2.VendorUpdate(name="x"),  # set but not masked
        vendor_pb2.VendorUpdate(update_mask={"paths": ["owner_id"]}),
        vendor_pb2.VendorUpdate(update_mask={"paths": ["name"]}),  # name cannot be null
        vendor_pb2.VendorUpdate(update_mask={"paths": ["phone"]}, phone="not a phone!"),
    ],
)
def test_bad_vendor_updates_are_validation_errors(message: vendor_pb2.VendorUpdate) -> None:
    with pytest.raises(ValidationFailed):
        codec.vendor_update_from_pb(message)


def test_optional_strings_distinguish_none_and_empty() -> None:
    rng = random.Random(1)
    vendor = st.vendor(rng).model_copy(update={"description": "", "phone": None})
    message = codec.vendor_to_pb(vendor)
    assert message.HasField("description") and not message.HasField("phone")
    back = codec.vendor_from_pb(vendor_pb2.Vendor.FromString(message.SerializeToString()))
    assert back.description == "" and back.phone is None


def test_coordinates_are_doubles() -> None:
    precise = Location(lat=52.520008123456789, long=13.404954987654321)
    back = codec.location_from_pb(
        common_pb2.Location.FromString(codec.location_to_pb(precise).SerializeToString())
    )
    assert back == precise  # float32 would lose about a metre here


@pytest.mark.parametrize(
    ("build", "decode"),
    [
        (lambda: location_pb2.UpdateVendorLocationRequest(vendor_id="v"), None),
        (lambda: common_pb2.BoundingBox(sw=common_pb2.Location()), codec.box_from_pb),
        (lambda: common_pb2.VendorPosition(id="v"), codec.position_from_pb),
        (lambda: user_pb2.User(id="u"), codec.user_from_pb),
    ],
)
def test_absent_required_messages_are_refused_not_zeroed(build: Any, decode: Any) -> None:
    message = build()
    with pytest.raises(ValidationFailed):
        if decode is None:
            codec.required(message, "location")
        else:
            decode(message)


@pytest.mark.parametrize(("lat", "long"), [(90.0001, 0), (0, -180.5), (float("nan"), 0)])
def test_out_of_range_coordinates_are_refused(lat: float, long: float) -> None:
    with pytest.raises(ValidationFailed) as info:
        codec.location_from_pb(common_pb2.Location(lat=lat, long=long))
    assert info.value.details["errors"]


def test_unknown_subscription_status_is_refused() -> None:
    message = user_pb2.SubscriptionUpdate(provider="p")  # status UNSPECIFIED
    with pytest.raises(ValidationFailed):
        codec.subscription_update_from_pb(message)
    assert {codec.subscription_from_pb(user_pb2.Subscription(status=v)).status
            for v in range(1, 7)} == set(SubscriptionStatus)  # fmt: skip


def test_timestamps() -> None:
    aware = datetime(2024, 2, 29, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    ts = codec.timestamp_to_pb(aware)
    assert (ts.seconds, ts.nanos) == (1709267400, 123456000)
    assert codec.timestamp_from_pb(ts) == aware
    assert codec.timestamp_from_pb(ts).tzinfo is UTC
    naive = datetime(2024, 1, 1, 12, 0)
    assert codec.timestamp_from_pb(codec.timestamp_to_pb(naive)) == naive.replace(tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        codec.timestamp_to_pb(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    with pytest.raises(ValidationFailed):
        codec.timestamp_from_pb(Timestamp(seconds=10**12))
    with pytest.raises(ValidationFailed):
        codec.timestamp_from_pb(Timestamp(seconds=0, nanos=-1))
    assert codec.timestamp_from_pb(Timestamp(seconds=1, nanos=999_999_999)).microsecond == 999_999


def test_vendor_create_is_validated_on_decode() -> None:
    with pytest.raises(ValidationFailed) as info:
        codec.vendor_create_from_pb(vendor_pb2.VendorCreate(name="", email="not-an-email"))
    fields = {e["field"] for e in info.value.details["errors"]}
    assert {"name", "email"} <= fields
