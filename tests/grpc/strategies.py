"""Seeded random generators of domain values for the property-style codec tests.

Each generator mixes ordinary values with edge cases: ``None`` next to ``""``, unicode from
several planes, extreme and signed-zero coordinates, and datetimes in many time zones.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

from venta_core.domain import (
    BoundingBox,
    Location,
    Subscription,
    SubscriptionStatus,
    SubscriptionUpdate,
    User,
    Vendor,
    VendorCreate,
    VendorPosition,
    VendorSummary,
    VendorUpdate,
)

ALPHABET = (
    "abcXYZ019 -_.,:;!?@#€£¥ßäöüñçøåæ漢字かなカナ한국어Ελληνικάкириллица😀🚚🌮\u200b\t\n\\\"'"
)
EXTREME_COORDS = [-90.0, 90.0, -180.0, 180.0, 0.0, -0.0, 5e-324, -5e-324, 1e-300]


def text(rng: random.Random, *, min_len: int = 0, max_len: int = 40) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(min_len, max_len)))


def opt_text(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.45:
        return ""
    return text(rng)


def coordinate(rng: random.Random, bound: float) -> float:
    if rng.random() < 0.3:
        return max(-bound, min(bound, rng.choice(EXTREME_COORDS)))
    return rng.uniform(-bound, bound)


def location(rng: random.Random) -> Location:
    return Location(lat=coordinate(rng, 90), long=coordinate(rng, 180))


def box(rng: random.Random) -> BoundingBox:
    a, b = sorted((coordinate(rng, 90), coordinate(rng, 90)))
    return BoundingBox(
        sw=Location(lat=a, long=coordinate(rng, 180)), ne=Location(lat=b, long=coordinate(rng, 180))
    )


def moment(rng: random.Random) -> datetime:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(
            [
                datetime(1, 1, 1, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                datetime(1970, 1, 1, tzinfo=UTC),
                datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            ]
        )
    base = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randint(0, 250 * 365 * 86400), microseconds=rng.randint(0, 999_999)
    )
    offset = timedelta(minutes=rng.choice([0, 60, -300, 330, 345, -570, 840, -720]))
    return base.astimezone(timezone(offset))


def opt_moment(rng: random.Random) -> datetime | None:
    return None if rng.random() < 0.3 else moment(rng)


def subscription(rng: random.Random) -> Subscription:
    return Subscription(
        status=rng.choice(list(SubscriptionStatus)),
        provider=opt_text(rng),
        product_id=opt_text(rng),
        expires_at=opt_moment(rng),
        updated_at=opt_moment(rng),
    )


def subscription_update(rng: random.Random) -> SubscriptionUpdate:
    return SubscriptionUpdate(
        status=rng.choice(list(SubscriptionStatus)),
        provider=text(rng),
        product_id=opt_text(rng),
        expires_at=opt_moment(rng),
        event_id=opt_text(rng),
    )


def user(rng: random.Random) -> User:
    return User(
        id=str(uuid.UUID(int=rng.getrandbits(128))),
        external_id=text(rng, min_len=1),
        subscription=subscription(rng),
        location=None if rng.random() < 0.4 else location(rng),
        created_at=moment(rng),
        updated_at=moment(rng),
    )


def vendor(rng: random.Random) -> Vendor:
    has_position = rng.random() < 0.6
    return Vendor(
        id=str(uuid.uuid4()),
        owner_id=str(uuid.uuid4()),
        name=text(rng, min_len=1),
        description=opt_text(rng),
        phone=opt_text(rng),
        email=opt_text(rng),
        website=opt_text(rng),
        open=rng.random() < 0.5,
        primary_image=opt_text(rng),
        lat=coordinate(rng, 90) if has_position else None,
        long=coordinate(rng, 180) if has_position else None,
        created_at=moment(rng),
        updated_at=moment(rng),
    )


def summary(rng: random.Random) -> VendorSummary:
    return VendorSummary(id=str(uuid.uuid4()), name=text(rng))


def position(rng: random.Random) -> VendorPosition:
    return VendorPosition(
        id=str(uuid.uuid4()),
        location=location(rng),
        distance=None if rng.random() < 0.4 else rng.choice([0.0, rng.uniform(0, 2e7)]),
        updated_at=opt_moment(rng),
    )


_NAMES = ["Taco Truck", "Crêpes à gogo", "拉麺屋", "🌮 & 🍔", "x" * 100]
_PHONES = ["+49 30 1234567", "(555) 010-9999", "123"]
_EMAILS = ["owner@example.com", "ünï@example.org"]
_URLS = ["https://example.com/a?b=c", "http://ex.am/ple/ü"]


def _valid_field(rng: random.Random, field: str) -> object:
    choices: dict[str, list[object]] = {
        "name": _NAMES,
        "description": ["", "A fine vendor.\nSecond line", "描述 " * 50],
        "phone": _PHONES,
        "email": _EMAILS,
        "website": _URLS,
        "primary_image": _URLS,
        "open": [True, False],
    }
    return rng.choice(choices[field])


def vendor_create(rng: random.Random) -> VendorCreate:
    data: dict[str, object] = {"name": _valid_field(rng, "name")}
    for field in ("description", "phone", "email", "website", "primary_image", "open"):
        if rng.random() < 0.6:
            data[field] = _valid_field(rng, field)
    return VendorCreate.model_validate(data)


def vendor_update(rng: random.Random) -> VendorUpdate:
    data: dict[str, object] = {}
    for field in ("name", "description", "phone", "email", "website", "primary_image", "open"):
        roll = rng.random()
        if roll < 0.4:
            continue  # absent: left alone
        if roll < 0.6 and field not in ("name", "open"):
            data[field] = None  # present and null: cleared
        else:
            data[field] = _valid_field(rng, field)
    return VendorUpdate.model_validate(data)
