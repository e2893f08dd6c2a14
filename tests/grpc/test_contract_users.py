"""UserService contract: the local implementation and the gRPC client must agree."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.grpc.conftest import Services
from venta_core.domain import Actor, SubscriptionStatus, SubscriptionUpdate, VendorCreate
from venta_core.errors import Unauthenticated, UserNotFound, VendorNotFound


async def test_ensure_user_creates_once(services: Services) -> None:
    first = await services.users.ensure_user("clerk|ü-🌮")
    again = await services.users.ensure_user("clerk|ü-🌮")
    assert first == again
    assert first.external_id == "clerk|ü-🌮"
    assert first.subscription.status is SubscriptionStatus.INACTIVE
    assert first.location is None
    assert first.created_at.tzinfo is not None


async def test_ensure_user_is_race_safe(services: Services) -> None:
    users = await asyncio.gather(*(services.users.ensure_user("racer") for _ in range(5)))
    assert len({u.id for u in users}) == 1


async def test_get_and_find(services: Services) -> None:
    user = await services.users.ensure_user("bob")
    assert await services.users.get_user(user.id) == user
    assert await services.users.find_by_external_id("bob") == user
    assert await services.users.find_by_external_id("nobody") is None
    assert await services.users.find_by_external_id("") is None


@pytest.mark.parametrize("user_id", [str(uuid.uuid4()), "not-a-uuid", ""])
async def test_unknown_user(services: Services, user_id: str) -> None:
    with pytest.raises(UserNotFound) as info:
        await services.users.get_user(user_id)
    assert info.value.code == "USER_NOT_FOUND"
    assert info.value.details == {"userId": user_id}
    with pytest.raises(UserNotFound):
        await services.users.delete_user(user_id)


async def test_list_user_vendors(services: Services) -> None:
    user = await services.users.ensure_user("owner")
    assert await services.users.list_user_vendors(user.id) == []
    actor = Actor.for_user(user)
    a = await services.vendors.create_vendor(actor, VendorCreate(name="A"))
    b = await services.vendors.create_vendor(actor, VendorCreate(name="B ✓"))
    listed = await services.users.list_user_vendors(user.id)
    assert sorted((v.id, v.name) for v in listed) == sorted([(a.id, "A"), (b.id, "B ✓")])
    with pytest.raises(UserNotFound):
        await services.users.list_user_vendors("nope")


async def test_delete_user_takes_their_vendors(services: Services) -> None:
    user = await services.users.ensure_user("leaving")
    vendor = await services.vendors.create_vendor(Actor.for_user(user), VendorCreate(name="V"))
    await services.users.delete_user(user.id)
    with pytest.raises(UserNotFound):
        await services.users.get_user(user.id)
    with pytest.raises(VendorNotFound):
        await services.vendors.get_vendor(vendor.id)
    assert await services.users.find_by_external_id("leaving") is None


async def test_a_deleted_user_is_never_created_again(services: Services) -> None:
    user = await services.users.ensure_user("deleted-for-good")
    await services.users.delete_user(user.id)
    for _ in range(2):
        with pytest.raises(Unauthenticated) as refused:
            await services.users.ensure_user("deleted-for-good")
        assert refused.value.code == "UNAUTHENTICATED"
        assert refused.value.message == "This account was deleted"
        assert refused.value.details == {"reason": "account deleted"}
    assert await services.users.find_by_external_id("deleted-for-good") is None


async def test_set_subscription_is_idempotent_per_event(services: Services) -> None:
    user = await services.users.ensure_user("subscriber")
    expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    update = SubscriptionUpdate(
        status=SubscriptionStatus.ACTIVE,
        provider="revenuecat",
        product_id="pro_monthly",
        expires_at=expires,
        event_id="evt-1",
    )
    applied = await services.users.set_subscription(user.id, update)
    assert applied.status is SubscriptionStatus.ACTIVE
    assert (applied.provider, applied.product_id) == ("revenuecat", "pro_monthly")
    assert applied.expires_at == expires and applied.expires_at.tzinfo is not None
    cancelled = update.model_copy(update={"status": SubscriptionStatus.CANCELLED})
    assert await services.users.set_subscription(user.id, cancelled) == applied  # same event id
    assert (await services.users.get_user(user.id)).subscription == applied


async def test_set_subscription_without_optional_fields(services: Services) -> None:
    user = await services.users.ensure_user("minimal")
    update = SubscriptionUpdate(status=SubscriptionStatus.EXPIRED, provider="store")
    applied = await services.users.set_subscription(user.id, update)
    assert applied.status is SubscriptionStatus.EXPIRED
    assert applied.product_id is None and applied.expires_at is None
    assert applied.updated_at is not None and applied.updated_at <= datetime.now(UTC)
    with pytest.raises(UserNotFound):
        await services.users.set_subscription("bad-id", update)


async def test_times_keep_their_instant_whatever_the_offset(services: Services) -> None:
    user = await services.users.ensure_user("offset")
    expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    update = SubscriptionUpdate(
        status=SubscriptionStatus.ACTIVE, provider="p", expires_at=expires, event_id="e"
    )
    await services.users.set_subscription(user.id, update)
    stored = (await services.users.get_user(user.id)).subscription.expires_at
    assert stored == expires
