"""Users follow vendors in their viewport: enter, move, leave, offline, deleted."""

from __future__ import annotations

import asyncio

from tests.realtime.harness import Server, at, box, client, subject
from venta_core.domain import Actor

BERLIN = box((52.50, 13.38), (52.54, 13.43))


async def test_channels_then_moves_in_view(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.405})
        await server.located(vendor_id, 52.52, 13.405)
        await user.emit("updateUserLocation", BERLIN)
        [channel] = await user.next("vendor_channels")
        assert channel["id"] == vendor_id and at(channel, 52.52, 13.405)

        await vendor.emit("updateVendorLocation", {"lat": 52.521, "long": 13.406})
        sync = await user.next("vendor_sync")
        assert sync == {"id": vendor_id, "location": {"lat": 52.521, "long": 13.406}}


async def test_vendor_entering_later_and_leaving(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await user.emit("updateUserLocation", BERLIN)
        assert await user.next("vendor_channels") == []
        # far away (another cell, not watched): nothing
        await vendor.emit("updateVendorLocation", {"lat": 48.85, "long": 2.35})
        await server.located(vendor_id, 48.85, 2.35)
        await user.nothing("vendor_sync", 0.2)
        # drives into the viewport
        await vendor.emit("updateVendorLocation", {"lat": 52.53, "long": 13.41})
        sync = await user.next("vendor_sync")
        assert sync["id"] == vendor_id and at(sync, 52.53, 13.41)
        # just outside the viewport, in the same (edge) cell
        await vendor.emit("updateVendorLocation", {"lat": 52.545, "long": 13.41})
        assert await user.next("vendor_left") == {"id": vendor_id}
        # back in, then far away (another cell)
        await vendor.emit("updateVendorLocation", {"lat": 52.53, "long": 13.42})
        assert at(await user.next("vendor_sync"), 52.53, 13.42)
        await vendor.emit("updateVendorLocation", {"lat": 40.71, "long": -74.0})
        assert await user.next("vendor_left") == {"id": vendor_id}
        await user.nothing("vendor_sync", 0.1)


async def test_panning_replaces_the_view(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await vendor.emit("updateVendorLocation", {"lat": 48.857, "long": 2.352})
        await server.located(vendor_id, 48.857, 2.352)
        await user.emit("updateUserLocation", BERLIN)
        assert await user.next("vendor_channels") == []
        await user.emit("updateUserLocation", box((48.85, 2.34), (48.86, 2.36)))
        [channel] = await user.next("vendor_channels")
        assert channel["id"] == vendor_id
        await vendor.emit("updateVendorLocation", {"lat": 48.858, "long": 2.353})
        assert at(await user.next("vendor_sync"), 48.858, 2.353)
        # panned away: moves there are no longer sent
        await user.emit("updateUserLocation", BERLIN)
        assert await user.next("vendor_channels") == []
        await vendor.emit("updateVendorLocation", {"lat": 48.859, "long": 2.354})
        await user.nothing("vendor_sync")


async def test_offline_vendor_leaves_and_reconnect_in_time_keeps_it(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with client(server, "/user", server.token(subject())) as user:
        await user.emit("updateUserLocation", BERLIN)
        await user.next("vendor_channels")
        async with client(server, "/vendor", server.token(owner)) as vendor:
            await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
            await user.next("vendor_sync")
        # reconnects within the grace period (0.3 s in these tests): still on the map
        async with client(server, "/vendor", server.token(owner)) as vendor:
            await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.41})
            await user.next("vendor_sync")
            await asyncio.sleep(0.5)
            await user.nothing("vendor_left", 0)
        # gone for good: removed from the map and the user told
        assert await user.next("vendor_left") == {"id": vendor_id}
        await user.emit("updateUserLocation", BERLIN)
        assert await user.next("vendor_channels") == []


async def test_deleted_vendor_leaves(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await user.emit("updateUserLocation", BERLIN)
        await user.next("vendor_channels")
        await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
        await user.next("vendor_sync")
        owner_user = await server.app.users.ensure_user(owner)
        await server.app.vendors.delete_vendor(Actor.for_user(owner_user), vendor_id)
        assert await user.next("vendor_left", timeout=10) == {"id": vendor_id}


async def test_many_users_one_cell_and_antimeridian(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with client(server, "/vendor", server.token(owner)) as vendor:
        users = [client(server, "/user", server.token(subject())) for _ in range(3)]
        entered = [await u.__aenter__() for u in users]
        try:
            for u in entered:
                await u.emit("updateUserLocation", box((-17.0, 179.9), (-16.9, -179.9)))
                assert await u.next("vendor_channels") == []
            await vendor.emit("updateVendorLocation", {"lat": -16.95, "long": -179.95})
            for u in entered:
                assert (await u.next("vendor_sync"))["id"] == vendor_id
        finally:
            for u in users:
                await u.__aexit__(None, None, None)


async def test_reconnecting_user_gets_the_view_again(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    token = server.token(subject())
    async with client(server, "/vendor", server.token(owner)) as vendor:
        await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
        await server.located(vendor_id, 52.52, 13.40)
        for _ in range(2):
            async with client(server, "/user", token) as user:
                await user.emit("updateUserLocation", BERLIN)
                assert [c["id"] for c in await user.next("vendor_channels")] == [vendor_id]
                await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.401})
                assert (await user.next("vendor_sync"))["id"] == vendor_id
                await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
                await user.next("vendor_sync")
