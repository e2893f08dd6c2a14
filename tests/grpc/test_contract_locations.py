"""LocationService contract: the local implementation and the gRPC client must agree."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.grpc.conftest import Services
from venta_core.domain import Actor, BoundingBox, Location, VendorCreate, VendorUpdate
from venta_core.domain.cells import encode
from venta_core.errors import Forbidden, LocationNotFound, ValidationFailed, VendorNotFound

BERLIN = Location(lat=52.520008123456789, long=13.404954987654321)
BOX = BoundingBox(sw=Location(lat=52.50, long=13.38), ne=Location(lat=52.54, long=13.43))


async def _vendor(services: Services, owner: str = "owner") -> tuple[Actor, str]:
    actor = Actor.for_user(await services.users.ensure_user(owner))
    vendor = await services.vendors.create_vendor(actor, VendorCreate(name=f"{owner}'s"))
    return actor, vendor.id


async def test_update_then_query(services: Services) -> None:
    actor, vendor_id = await _vendor(services)
    position = await services.locations.update_vendor_location(actor, vendor_id, BERLIN)
    assert position.id == vendor_id and position.location == BERLIN  # doubles, exact
    assert position.updated_at is not None and position.updated_at.tzinfo is not None
    got = await services.locations.get_vendor_location(vendor_id)
    assert got.id == vendor_id and got.location == BERLIN and got.distance is None
    in_box = await services.locations.vendors_in_box(BOX, 10)
    assert [(p.id, p.location, p.distance) for p in in_box] == [(vendor_id, BERLIN, None)]
    near = await services.locations.vendors_near(BERLIN, 50, 10)
    assert [p.id for p in near] == [vendor_id]
    assert near[0].distance is not None and near[0].distance == pytest.approx(0, abs=1)
    assert await services.locations.vendors_near(Location(lat=0, long=0), 50, 10) == []


@pytest.mark.parametrize(
    "where",
    [
        Location(lat=90, long=180),
        Location(lat=-90, long=-180),
        Location(lat=0.0, long=-0.0),
        Location(lat=-33.868820123456, long=151.209296987654),
    ],
)
async def test_extreme_coordinates(services: Services, where: Location) -> None:
    actor, vendor_id = await _vendor(services)
    position = await services.locations.update_vendor_location(actor, vendor_id, where)
    assert position.location == where  # echoed exactly, whatever the index keeps
    got = await services.locations.get_vendor_location(vendor_id)
    assert abs(got.location.lat) <= 90 and abs(got.location.long) <= 180
    if abs(where.lat) < 85:  # geo indexes (Redis GEO) stop at +-85.05 degrees latitude
        assert got.location.lat == pytest.approx(where.lat, abs=1e-5)
        assert got.location.long == pytest.approx(where.long, abs=1e-5)


async def test_antimeridian_box(services: Services) -> None:
    actor, vendor_id = await _vendor(services)
    fiji = Location(lat=-17.7, long=179.9)
    await services.locations.update_vendor_location(actor, vendor_id, fiji)
    box = BoundingBox(sw=Location(lat=-20, long=170), ne=Location(lat=-10, long=-170))
    assert [p.id for p in await services.locations.vendors_in_box(box, 5)] == [vendor_id]


async def test_only_the_owner_moves_or_removes_a_vendor(services: Services) -> None:
    _, vendor_id = await _vendor(services, "owner")
    intruder = Actor.for_user(await services.users.ensure_user("intruder"))
    with pytest.raises(Forbidden) as info:
        await services.locations.update_vendor_location(intruder, vendor_id, BERLIN)
    assert info.value.code == "FORBIDDEN"
    with pytest.raises(Forbidden):
        await services.locations.remove_vendor_location(intruder, vendor_id)
    with pytest.raises(LocationNotFound):
        await services.locations.get_vendor_location(vendor_id)


async def test_unknown_vendor(services: Services) -> None:
    actor = Actor.for_user(await services.users.ensure_user("someone"))
    missing = str(uuid.uuid4())
    with pytest.raises(VendorNotFound):
        await services.locations.update_vendor_location(actor, missing, BERLIN)
    with pytest.raises(VendorNotFound):
        await services.locations.remove_vendor_location(actor, missing)
    with pytest.raises(VendorNotFound):
        await services.locations.get_vendor_location("not-a-uuid")
    with pytest.raises(LocationNotFound) as info:
        await services.locations.get_vendor_location(missing)
    assert info.value.code == "LOCATION_NOT_FOUND" and info.value.details == {"vendorId": missing}


async def test_remove(services: Services) -> None:
    actor, vendor_id = await _vendor(services)
    await services.locations.update_vendor_location(actor, vendor_id, BERLIN)
    await services.locations.remove_vendor_location(actor, vendor_id)
    with pytest.raises(LocationNotFound):
        await services.locations.get_vendor_location(vendor_id)
    assert await services.locations.vendors_in_box(BOX, 10) == []


@pytest.mark.parametrize("limit", [0, -1, 1001, 2**40])
async def test_bad_limits(services: Services, limit: int) -> None:
    with pytest.raises(ValidationFailed) as info:
        await services.locations.vendors_in_box(BOX, limit)
    assert info.value.code == "VALIDATION_ERROR"
    with pytest.raises(ValidationFailed):
        await services.locations.vendors_near(BERLIN, 100, limit)


@pytest.mark.parametrize("radius", [0, -5, 100_001, float("inf"), float("nan")])
async def test_bad_radius(services: Services, radius: float) -> None:
    with pytest.raises(ValidationFailed) as info:
        await services.locations.vendors_near(BERLIN, radius, 10)
    assert info.value.details.get("field") == "radius"


async def test_user_location(services: Services) -> None:
    user = Actor.for_user(await services.users.ensure_user("walker"))
    assert await services.locations.update_user_location(user, BERLIN) is None
    with pytest.raises(ValidationFailed):
        await services.locations.update_user_location(Actor.for_system(), BERLIN)


async def test_nearby_positions_carry_pins(services: Services) -> None:
    actor, vendor_id = await _vendor(services, "pinned")
    image = "https://img.example/pin.jpg"
    change = VendorUpdate.model_validate({"open": True, "primaryImage": image})
    await services.vendors.update_vendor(actor, vendor_id, change)
    set_at = (await services.locations.update_vendor_location(actor, vendor_id, BERLIN)).updated_at
    # The change reaches pins held in process with vendor.updated (relayed from the outbox).
    for _ in range(200):
        (pin,) = await services.locations.vendors_in_box(BOX, 10)
        if pin.open:
            break
        await asyncio.sleep(0.05)
    for found in (
        await services.locations.vendors_in_box(BOX, 10),
        await services.locations.vendors_near(BERLIN, 50, 10),
        [await services.locations.get_vendor_location(vendor_id)],
    ):
        (pin,) = found
        assert (pin.name, pin.open, pin.primary_image) == ("pinned's", True, image)
        assert pin.updated_at == set_at


async def test_clusters(services: Services) -> None:
    actor, first = await _vendor(services, "one")
    _, second = await _vendor(services, "two")
    await services.locations.update_vendor_location(actor, first, BERLIN)
    other = Actor.for_user(await services.users.ensure_user("two"))
    await services.locations.update_vendor_location(other, second, Location(lat=52.51, long=13.39))
    (cluster,) = await services.locations.vendor_clusters(BOX, 3)
    assert (cluster.cell, cluster.count) == (encode(BERLIN.lat, BERLIN.long, 3), 2)
    assert cluster.location.lat == pytest.approx((BERLIN.lat + 52.51) / 2, abs=1e-5)
    fine = await services.locations.vendor_clusters(BOX, 7)
    assert sorted(c.count for c in fine) == [1, 1]
    for precision in (0, 13):
        with pytest.raises(ValidationFailed):
            await services.locations.vendor_clusters(BOX, precision)
