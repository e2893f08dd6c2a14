"""Socket.IO refuses text the database cannot store (NUL) through the same domain type as
HTTP and gRPC: an ``error`` VALIDATION_ERROR, the connection staying up; a token whose
subject holds NUL is refused at connect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import socketio

from tests.realtime.harness import Server, SioClient, client, realtime_settings, running, subject
from venta_core.settings import Settings


@pytest.fixture
async def server(backend_settings: Settings) -> AsyncIterator[Server]:
    async with running(realtime_settings(backend_settings)) as srv:
        yield srv


async def test_a_vendor_id_with_nul_is_a_validation_error(server: Server) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with client(server, "/vendor", server.token(owner)) as vendor:
        payload = {"vendorId": vendor_id + "\x00", "lat": 52.5, "long": 13.4}
        await vendor.emit("updateVendorLocation", payload)
        error = await vendor.next("error")
        assert error["code"] == "VALIDATION_ERROR", error
        assert error["details"] == {"field": "vendorId"}
        assert "NUL" in error["message"]
        assert vendor.connected
        await vendor.emit("updateVendorLocation", {"vendorId": vendor_id, "lat": 1.5, "long": 2})
        await server.located(vendor_id, 1.5, 2)


async def test_a_token_whose_subject_holds_nul_cannot_connect(server: Server) -> None:
    user = SioClient("/user")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await user.connect(server, server.token("user\x00x"))
    assert user.connect_error["code"] == "UNAUTHENTICATED"
