"""The live map's data on /user: pins (vendor_channels items, a vendor entering the view, a
profile change) and clusters for a viewport too wide or too dense, switching back to pins when
the user zooms in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.realtime.harness import Server, at, box, client, realtime_settings, running, subject
from venta_core.domain import Actor, VendorUpdate
from venta_core.domain.cells import encode
from venta_core.settings import Settings
from venta_core.transports.realtime.protocol import ClusterItem, PinItem, PositionItem

BERLIN = box((52.50, 13.38), (52.54, 13.43))
GERMANY = box((47.0, 5.0), (55.0, 15.0))  # far more cells than max_viewport_cells
PIN = {"id", "location", "name", "open", "primaryImage", "updatedAt"}


@pytest.fixture
async def map_server(backend_settings: Settings) -> AsyncIterator[Server]:
    settings = realtime_settings(
        backend_settings,
        vendor_messages_per_minute=1000,
        max_viewport_pins=3,
        cluster_refresh_seconds=0.1,
    )
    async with running(settings) as srv:
        yield srv


async def _place(server: Server, vendor: object, vendor_id: str, lat: float, long: float) -> None:
    await vendor.emit("updateVendorLocation", {"vendorId": vendor_id, "lat": lat, "long": long})  # type: ignore[attr-defined]
    await server.located(vendor_id, lat, long)


async def test_channels_carry_pins_and_only_entering_vendors_get_one(map_server: Server) -> None:
    server = map_server
    owner = subject()
    here = await server.vendor(owner, name="Curry 36")
    later = await server.vendor(owner, name="Late Taco")
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await _place(server, vendor, here, 52.52, 13.405)
        await _place(server, vendor, later, 48.85, 2.35)
        await user.emit("updateUserLocation", BERLIN)
        [channel] = await user.next("vendor_channels")
        assert set(channel) == PIN and PinItem.model_validate(channel)
        assert channel["id"] == here and at(channel, 52.52, 13.405)
        assert channel["name"] == "Curry 36" and channel["open"] is False
        assert channel["primaryImage"] is None and channel["updatedAt"].endswith("Z")

        # a move of a vendor in view: the position only
        await vendor.emit("updateVendorLocation", {"vendorId": here, "lat": 52.521, "long": 13.406})
        move = await user.next("vendor_sync")
        assert move == {"id": here, "location": {"lat": 52.521, "long": 13.406}}
        assert PositionItem.model_validate(move)

        # a vendor entering the view: its pin
        await vendor.emit("updateVendorLocation", {"vendorId": later, "lat": 52.53, "long": 13.41})
        entering = await user.next("vendor_sync")
        assert set(entering) == PIN and entering["id"] == later
        assert entering["name"] == "Late Taco" and at(entering, 52.53, 13.41)
        # ... and its next move is a move again
        await vendor.emit("updateVendorLocation", {"vendorId": later, "lat": 52.531, "long": 13.41})
        assert set(await user.next("vendor_sync")) == {"id", "location"}


async def test_a_profile_change_reaches_the_watchers(map_server: Server) -> None:
    server = map_server
    owner = subject()
    vendor_id = await server.vendor(owner, name="Taco Truck")
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        await _place(server, vendor, vendor_id, 52.52, 13.405)
        await user.emit("updateUserLocation", BERLIN)
        [channel] = await user.next("vendor_channels")
        assert channel["open"] is False

        actor = Actor.for_user(await server.app.users.ensure_user(owner))
        change = VendorUpdate.model_validate(
            {"name": "Taco Loco", "open": True, "primaryImage": "https://img.example/t.jpg"}
        )
        await server.app.vendors.update_vendor(actor, vendor_id, change)
        sync = await user.next("vendor_sync")
        assert set(sync) == PIN and at(sync, 52.52, 13.405)
        assert (sync["name"], sync["open"]) == ("Taco Loco", True)
        assert sync["primaryImage"] == "https://img.example/t.jpg"


async def test_a_wide_viewport_gets_clusters_and_zooming_in_gets_pins(
    map_server: Server,
) -> None:
    server = map_server
    owner = subject()
    spots = [(52.52, 13.405), (52.5201, 13.4051), (48.137, 11.575)]
    ids = [await server.vendor(owner) for _ in spots]
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        for vendor_id, (lat, long) in zip(ids, spots, strict=True):
            await _place(server, vendor, vendor_id, lat, long)
        await user.emit("updateUserLocation", GERMANY)
        clusters = await user.next("vendor_clusters")
        assert all(ClusterItem.model_validate(c) for c in clusters)
        assert sum(c["count"] for c in clusters) == 3
        precision = len(clusters[0]["cell"])
        counts = {c["cell"]: c["count"] for c in clusters}
        assert counts[encode(52.52, 13.405, precision)] == 2
        pair = next(c for c in clusters if c["count"] == 2)
        assert pair["location"]["lat"] == pytest.approx(52.52005, abs=1e-5)

        # counts change: fresh clusters follow, at the refresh interval
        await _place(server, vendor, ids[2], 52.40, 13.05)
        for _ in range(50):
            fresh = await user.next("vendor_clusters")
            if {c["cell"]: c["count"] for c in fresh}.get(
                encode(48.137, 11.575, precision)
            ) is None:
                break
        assert sum(c["count"] for c in fresh) == 3
        assert encode(52.40, 13.05, precision) in {c["cell"] for c in fresh}

        # zooming in: pins again, and moves follow
        await user.emit("updateUserLocation", BERLIN)
        channels = await user.next("vendor_channels")
        assert {c["id"] for c in channels} == set(ids[:2])
        await vendor.emit("updateVendorLocation", {"vendorId": ids[0], "lat": 52.521, "long": 13.4})
        assert (await user.next("vendor_sync"))["id"] == ids[0]


async def test_a_viewport_with_too_many_vendors_gets_clusters(map_server: Server) -> None:
    server = map_server
    owner = subject()
    ids = [await server.vendor(owner) for _ in range(4)]  # max_viewport_pins is 3
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject())) as user,
    ):
        for i, vendor_id in enumerate(ids):
            await _place(server, vendor, vendor_id, 52.51 + i * 0.005, 13.40)
        await user.emit("updateUserLocation", BERLIN)
        clusters = await user.next("vendor_clusters")
        assert sum(c["count"] for c in clusters) == 4
        await user.nothing("vendor_channels", 0.05)
        # a moving vendor sends no vendor_sync to a clustered view
        await _place(server, vendor, ids[0], 52.512, 13.4)
        await user.nothing("vendor_sync", 0.3)
        await user.emit("updateUserLocation", box((52.505, 13.39), (52.517, 13.41)))
        channels = await user.next("vendor_channels")
        assert {c["id"] for c in channels} == {ids[0], ids[1]}
