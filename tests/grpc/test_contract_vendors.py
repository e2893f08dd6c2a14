"""VendorService contract: the local implementation and the gRPC client must agree."""

from __future__ import annotations

import uuid

import pytest

from tests.grpc.conftest import Services
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.errors import Forbidden, ValidationFailed, VendorNotFound


async def _actor(services: Services, name: str = "owner") -> Actor:
    return Actor.for_user(await services.users.ensure_user(name))


FULL = VendorCreate.model_validate(
    {
        "name": "Crêpes à gogo 🥞",
        "description": "",
        "phone": "+33 1 23 45 67 89",
        "email": "crepes@example.com",
        "website": "https://crepes.example.com/menu?lang=fr",
        "open": True,
        "imageUrl": "https://img.example.com/c.png",
    }
)


async def test_create_and_get(services: Services) -> None:
    owner = await _actor(services)
    vendor = await services.vendors.create_vendor(owner, FULL)
    assert vendor.owner_id == owner.user_id
    assert vendor.name == "Crêpes à gogo 🥞"
    assert vendor.description == ""  # empty string survives, it is not "absent"
    assert vendor.primary_image == "https://img.example.com/c.png"
    assert vendor.open is True
    assert (vendor.lat, vendor.long) == (None, None)
    assert vendor.created_at == vendor.updated_at and vendor.created_at.tzinfo is not None
    assert await services.vendors.get_vendor(vendor.id) == vendor
    assert await services.vendors.owner_of(vendor.id) == owner.user_id


async def test_create_minimal_keeps_nulls(services: Services) -> None:
    vendor = await services.vendors.create_vendor(await _actor(services), VendorCreate(name="M"))
    fetched = await services.vendors.get_vendor(vendor.id)
    assert fetched.description is None and fetched.phone is None and fetched.email is None
    assert fetched.open is False


async def test_create_needs_a_user(services: Services) -> None:
    with pytest.raises(ValidationFailed) as info:
        await services.vendors.create_vendor(Actor(user_id=None), VendorCreate(name="x"))
    assert info.value.code == "VALIDATION_ERROR"


@pytest.mark.parametrize("vendor_id", [str(uuid.uuid4()), "nope", ""])
async def test_unknown_vendor(services: Services, vendor_id: str) -> None:
    owner = await _actor(services)
    calls = [
        services.vendors.get_vendor(vendor_id),
        services.vendors.owner_of(vendor_id),
        services.vendors.update_vendor(owner, vendor_id, VendorUpdate(name="x")),
        services.vendors.delete_vendor(owner, vendor_id),
    ]
    for call in calls:
        with pytest.raises(VendorNotFound) as info:
            await call
        assert info.value.code == "VENDOR_NOT_FOUND"
        assert info.value.details == {"vendorId": vendor_id}
        assert info.value.message == f'Vendor with ID "{vendor_id}" not found'


async def test_partial_update_absent_versus_null(services: Services) -> None:
    owner = await _actor(services)
    vendor = await services.vendors.create_vendor(owner, FULL)
    update = VendorUpdate.model_validate({"name": "Renamed", "phone": None})
    updated = await services.vendors.update_vendor(owner, vendor.id, update)
    assert updated.name == "Renamed"
    assert updated.phone is None  # null: cleared
    assert updated.email == FULL.email and updated.description == ""  # absent: kept
    assert updated.updated_at > vendor.updated_at
    assert await services.vendors.get_vendor(vendor.id) == updated


async def test_empty_update_changes_nothing(services: Services) -> None:
    owner = await _actor(services)
    vendor = await services.vendors.create_vendor(owner, FULL)
    assert await services.vendors.update_vendor(owner, vendor.id, VendorUpdate()) == vendor


async def test_only_the_owner_or_the_system_changes_a_vendor(services: Services) -> None:
    owner = await _actor(services, "owner")
    other = await _actor(services, "intruder")
    vendor = await services.vendors.create_vendor(owner, VendorCreate(name="Mine"))
    with pytest.raises(Forbidden) as info:
        await services.vendors.update_vendor(other, vendor.id, VendorUpdate(name="Theirs"))
    assert info.value.code == "FORBIDDEN" and info.value.details == {"vendorId": vendor.id}
    with pytest.raises(Forbidden):
        await services.vendors.delete_vendor(other, vendor.id)
    with pytest.raises(Forbidden):
        await services.vendors.update_vendor(Actor(user_id=None), vendor.id, VendorUpdate())
    system = Actor.for_system("admin")
    changed = await services.vendors.update_vendor(system, vendor.id, VendorUpdate(open=True))
    assert changed.open is True
    assert (await services.vendors.get_vendor(vendor.id)).name == "Mine"


async def test_delete(services: Services) -> None:
    owner = await _actor(services)
    vendor = await services.vendors.create_vendor(owner, VendorCreate(name="Gone"))
    await services.vendors.delete_vendor(owner, vendor.id)
    with pytest.raises(VendorNotFound):
        await services.vendors.get_vendor(vendor.id)
    with pytest.raises(VendorNotFound):
        await services.vendors.delete_vendor(owner, vendor.id)
    assert await services.users.list_user_vendors(owner.user_id or "") == []
