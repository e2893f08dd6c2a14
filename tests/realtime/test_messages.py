"""Bad payloads, ownership and rate limits: ``error`` events, and the connection stays up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from tests.realtime.harness import (
    Server,
    SioClient,
    box,
    client,
    realtime_settings,
    running,
    subject,
)
from venta_core.settings import Settings

BAD_VENDOR_PAYLOADS: list[Any] = [
    None,
    "52.5,13.4",
    [52.5, 13.4],
    42,
    {},
    {"lat": 52.5},
    {"long": 13.4},
    {"lat": "52.5", "long": 13.4},
    {"lat": True, "long": 13.4},
    {"lat": None, "long": 13.4},
    {"lat": 90.5, "long": 13.4},
    {"lat": 52.5, "long": -180.1},
    {"lat": float("nan"), "long": 13.4},
    {"lat": float("inf"), "long": 13.4},
    {"lat": {"x": 1}, "long": 13.4},
    {"vendorId": "", "lat": 52.5, "long": 13.4},
    {"vendorId": 12, "lat": 52.5, "long": 13.4},
    {"vendorId": "x" * 65, "lat": 52.5, "long": 13.4},
]

BAD_VIEWPORTS: list[Any] = [
    None,
    [],
    {"neLocation": {"lat": 52.5, "long": 13.4}},
    {"neLocation": {"lat": 52.5, "long": 13.4}, "swLocation": "here"},
    box((52.5, 13.38), (91.0, 13.43)),
    box((52.5, "13.38"), (52.54, 13.43)),  # type: ignore[arg-type]
    box((52.6, 13.38), (52.5, 13.43)),  # south above north
]


@pytest.fixture
async def strict_server(backend_settings: Settings) -> AsyncIterator[Server]:
    settings = realtime_settings(
        backend_settings, vendor_messages_per_minute=200, user_messages_per_minute=200
    )
    async with running(settings) as srv:
        yield srv


async def test_bad_vendor_payloads(strict_server: Server) -> None:
    server = strict_server
    owner = subject()
    await server.vendor(owner)
    async with client(server, "/vendor", server.token(owner)) as vendor:
        for payload in BAD_VENDOR_PAYLOADS:
            await vendor.emit("updateVendorLocation", payload)
            error = await vendor.next("error")
            assert error["code"] == "VALIDATION_ERROR", (payload, error)
            assert error["message"]
        await vendor.emit("noSuchEvent", {"lat": 1})
        assert (await vendor.next("error"))["code"] == "VALIDATION_ERROR"
        assert vendor.connected


async def test_bad_viewports(strict_server: Server) -> None:
    server = strict_server
    async with client(server, "/user", server.token(subject())) as user:
        for payload in BAD_VIEWPORTS:
            await user.emit("updateUserLocation", payload)
            error = await user.next("error")
            assert error["code"] == "VALIDATION_ERROR", (payload, error)
        await user.nothing("vendor_channels", 0.05)
        await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        assert await user.next("vendor_channels") == []


async def test_a_user_cannot_publish_as_someone_elses_vendor(strict_server: Server) -> None:
    server = strict_server
    owner, other = subject(), subject()
    vendor_id = await server.vendor(owner)
    await server.vendor(other, name="Other")
    async with client(server, "/vendor", server.token(other)) as mallory:
        await mallory.emit("updateVendorLocation", {"vendorId": vendor_id, "lat": 1, "long": 2})
        assert (await mallory.next("error"))["code"] == "FORBIDDEN"
        unknown = "00000000-0000-4000-8000-000000000000"
        await mallory.emit("updateVendorLocation", {"vendorId": unknown, "lat": 1, "long": 2})
        assert (await mallory.next("error"))["code"] == "VENDOR_NOT_FOUND"
        assert mallory.connected
    from venta_core.errors import LocationNotFound

    with pytest.raises(LocationNotFound):
        await server.app.locations.get_vendor_location(vendor_id)


async def test_vendor_ids_are_read_as_on_rest(strict_server: Server) -> None:
    """An upper-case UUID names the vendor it names on REST (ids are stored lower-case); an id
    that is no UUID names no vendor."""
    server = strict_server
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/user", server.token(subject())) as watcher,
        client(server, "/vendor", server.token(owner)) as vendor,
    ):
        await watcher.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        assert await watcher.next("vendor_channels") == []
        shouted = {"vendorId": vendor_id.upper(), "lat": 52.52, "long": 13.405}
        await vendor.emit("updateVendorLocation", shouted)
        await server.located(vendor_id, 52.52, 13.405)
        assert (await watcher.next("vendor_sync"))["id"] == vendor_id
        await vendor.emit(
            "updateVendorLocation",
            {"vendorId": "{" + vendor_id + "}", "lat": 52.521, "long": 13.405},
        )
        await server.located(vendor_id, 52.521, 13.405)
        await vendor.emit("updateVendorLocation", {"vendorId": "truck-1", "lat": 1, "long": 2})
        assert (await vendor.next("error"))["code"] == "VENDOR_NOT_FOUND"
        await vendor.nothing("error", 0.1)
    position = await server.app.locations.get_vendor_location(vendor_id)
    assert position.id == vendor_id


async def test_vendor_id_is_needed_with_several_vendors(strict_server: Server) -> None:
    server = strict_server
    owner, nobody = subject(), subject()
    first = await server.vendor(owner)
    async with client(server, "/vendor", server.token(nobody)) as vendor:
        await vendor.emit("updateVendorLocation", {"lat": 1, "long": 2})
        assert (await vendor.next("error"))["code"] == "FORBIDDEN"
    await server.vendor(owner, name="Second")
    async with client(server, "/vendor", server.token(owner)) as vendor:
        await vendor.emit("updateVendorLocation", {"lat": 1, "long": 2})
        error = await vendor.next("error")
        assert error["code"] == "VALIDATION_ERROR" and "vendorId" in error["message"]
        await vendor.emit("updateVendorLocation", {"vendorId": first, "lat": 1.5, "long": 2})
        await server.located(first, 1.5, 2)


async def test_rate_limits(backend_settings: Settings) -> None:
    settings = realtime_settings(
        backend_settings, vendor_messages_per_minute=3, user_messages_per_minute=2
    )
    async with running(settings) as server:
        owner = subject()
        vendor_id = await server.vendor(owner)
        async with (
            client(server, "/vendor", server.token(owner)) as vendor,
            client(server, "/user", server.token(subject())) as user,
        ):
            for i in range(3):
                await vendor.emit("updateVendorLocation", {"lat": 10 + i, "long": 2})
            await server.located(vendor_id, 12, 2)
            await vendor.emit("updateVendorLocation", {"lat": 20, "long": 2})
            error = await vendor.next("error")
            assert error["code"] == "RATE_LIMITED"
            assert 1 <= error["details"]["retryAfter"] <= 60
            await server.located(vendor_id, 12, 2)  # not stored

            viewport = box((52.5, 13.38), (52.54, 13.43))
            for _ in range(2):
                await user.emit("updateUserLocation", viewport)
                await user.next("vendor_channels")
            await user.emit("updateUserLocation", viewport)
            assert (await user.next("error"))["code"] == "RATE_LIMITED"
            assert vendor.connected and user.connected


async def test_limits_are_per_user_not_per_connection(backend_settings: Settings) -> None:
    settings = realtime_settings(
        backend_settings, user_messages_per_minute=2, max_connections_per_user=2
    )
    async with running(settings) as server:
        me, viewport = subject(), box((52.5, 13.38), (52.54, 13.43))
        async with (
            client(server, "/user", server.token(me)) as first,
            client(server, "/user", server.token(me)) as second,
        ):
            # a third connection of the same user is refused; another user is not
            third = SioClient("/user")
            with pytest.raises(socketio.exceptions.ConnectionError):
                await third.connect(server, server.token(me))
            assert third.connect_error["code"] == "RATE_LIMITED"
            async with client(server, "/user", server.token(subject())) as stranger:
                await first.emit("updateUserLocation", viewport)
                await first.next("vendor_channels")
                await second.emit("updateUserLocation", viewport)
                await second.next("vendor_channels")
                # the budget of 2 is shared by both connections
                await second.emit("updateUserLocation", viewport)
                error = await second.next("error")
                assert error["code"] == "RATE_LIMITED" and "per user" in error["message"]
                await stranger.emit("updateUserLocation", viewport)
                await stranger.next("vendor_channels")
        # reconnecting does not start a fresh window, and the connection slots are free again
        async with client(server, "/user", server.token(me)) as again:
            await again.emit("updateUserLocation", viewport)
            assert (await again.next("error"))["code"] == "RATE_LIMITED"
