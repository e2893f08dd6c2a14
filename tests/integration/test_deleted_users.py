"""A deleted user stays deleted: the user service refuses their external id from then on, on
the embedded backends and on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.errors import Unauthenticated, UserNotFound, VendorNotFound
from venta_core.services.identities import DeletedIdentities
from venta_core.store.tables import deleted_identities, outbox, users


def assert_account_deleted(error: Unauthenticated) -> None:
    assert error.code == "UNAUTHENTICATED"
    assert error.message == "This account was deleted"
    assert error.details == {"reason": "account deleted"}


async def user_rows(app: Venta, external_id: str) -> int:
    async with app.database.connect() as conn:
        query = sa.select(sa.func.count()).where(users.c.external_id == external_id)
        return int((await conn.execute(query)).scalar_one())


async def test_a_deleted_identity_is_refused_not_created_again(app: Venta) -> None:
    user = await app.users.ensure_user("gone")
    await app.users.delete_user(user.id)

    with pytest.raises(Unauthenticated) as refused:
        await app.users.ensure_user("gone")

    assert_account_deleted(refused.value)
    assert await user_rows(app, "gone") == 0
    assert await app.users.find_by_external_id("gone") is None
    assert await DeletedIdentities(app.database).is_deleted("gone")


async def test_the_tombstone_is_written_with_the_deletion(app: Venta) -> None:
    user = await app.users.ensure_user("recorded")
    await app.users.delete_user(user.id)

    async with app.database.connect() as conn:
        row = (await conn.execute(sa.select(deleted_identities))).one()

    assert (row.external_id, row.user_id) == ("recorded", user.id)


async def test_a_vendor_for_a_deleted_user_is_refused_not_a_server_error(app: Venta) -> None:
    """A transport may still hold the user it resolved before the deletion (a cached
    identity, a signed gRPC actor): the foreign key refuses the vendor, as a 401."""
    user = await app.users.ensure_user("stale")
    await app.users.delete_user(user.id)

    with pytest.raises(Unauthenticated) as refused:
        await app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name="Ghost"))

    assert_account_deleted(refused.value)
    assert await app.users.list_user_vendors(user.id) == []


async def test_an_identity_never_seen_can_be_deleted_in_advance(app: Venta) -> None:
    identities = DeletedIdentities(app.database)

    assert await identities.forget("never_seen") is True
    assert await identities.forget("never_seen") is False
    with pytest.raises(Unauthenticated) as refused:
        await app.users.ensure_user("never_seen")

    assert_account_deleted(refused.value)
    assert await user_rows(app, "never_seen") == 0


async def test_restore_lets_the_identity_start_afresh(app: Venta) -> None:
    old = await app.users.ensure_user("back")
    await app.vendors.create_vendor(Actor.for_user(old), VendorCreate(name="Old stall"))
    await app.users.delete_user(old.id)
    identities = DeletedIdentities(app.database)

    assert await identities.restore("back") is True
    assert await identities.restore("back") is False
    new = await app.users.ensure_user("back")

    assert new.id != old.id
    assert await app.users.list_user_vendors(new.id) == []
    assert not await identities.is_deleted("back")


async def test_a_user_recreated_before_tombstones_were_checked_is_deleted_on_sight(
    app: Venta,
) -> None:
    """Earlier releases let a valid token recreate a deleted user; migration 0004 carries the
    old tombstones over. Such a user is deleted, with their vendors and events, when the id is
    next presented."""
    user = await app.users.ensure_user("revenant")
    vendor = await app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name="Back"))
    async with app.database.begin() as conn:
        await conn.execute(
            deleted_identities.insert().values(external_id="revenant", deleted_at=datetime.now(UTC))
        )

    with pytest.raises(Unauthenticated) as refused:
        await app.users.ensure_user("revenant")

    assert_account_deleted(refused.value)
    assert await user_rows(app, "revenant") == 0
    with pytest.raises(VendorNotFound):
        await app.vendors.get_vendor(vendor.id)
    async with app.database.connect() as conn:
        types = (await conn.execute(sa.select(outbox.c.type).order_by(outbox.c.seq))).scalars()
        assert list(types)[-2:] == ["vendor.deleted", "user.deleted"]


async def test_first_sight_racing_a_deletion_never_leaves_a_user_behind(app: Venta) -> None:
    """However a first sight and a deletion of one identity interleave, the identity ends
    deleted with no user: the sight either came first (and its user was deleted) or was
    refused."""
    identities = DeletedIdentities(app.database)

    async def delete(external_id: str) -> None:
        await identities.forget(external_id)
        user = await app.users.find_by_external_id(external_id)
        if user is not None:
            with contextlib.suppress(UserNotFound):
                await app.users.delete_user(user.id)

    async def sight(external_id: str) -> None:
        with contextlib.suppress(Unauthenticated):
            await app.users.ensure_user(external_id)

    names = [f"racer{i}" for i in range(20)]
    await asyncio.gather(*(step(name) for name in names for step in (sight, delete)))

    for name in names:
        assert await user_rows(app, name) == 0, name
        assert await identities.is_deleted(name)
