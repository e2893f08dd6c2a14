"""Several ws processes on one NATS and Redis behave as one."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.conftest import real_settings
from tests.realtime.harness import Server, box, client, realtime_settings, running, subject

BERLIN = box((52.50, 13.38), (52.54, 13.43))


async def _cells_watched(server: Server) -> float:
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    match = re.search(r"^venta_ws_cells_watched (\S+)$", text, re.M)
    assert match is not None
    return float(match.group(1))


async def test_two_processes_behave_as_one(postgres_url: str) -> None:
    settings = realtime_settings(real_settings(postgres_url), offline_grace_seconds=0.5)
    async with running(settings) as a, running(settings) as b:
        owner = subject()
        vendor_id = await a.vendor(owner)
        async with client(b, "/user", b.token(subject())) as user:
            await user.emit("updateUserLocation", BERLIN)
            assert await user.next("vendor_channels") == []
            assert await _cells_watched(a) == 0  # nobody watches anything on A
            assert await _cells_watched(b) > 0

            async with client(a, "/vendor", a.token(owner)) as vendor:
                await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
                sync = await user.next("vendor_sync")
                assert sync["id"] == vendor_id
            # the vendor's device switches to process B before the grace period ends
            async with client(b, "/vendor", b.token(owner)) as vendor:
                await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.41})
                await user.next("vendor_sync")
                await asyncio.sleep(0.8)
                await user.nothing("vendor_left", 0)
                # a second user, on A, sees the vendor that is connected to B
                async with client(a, "/user", a.token(subject())) as other:
                    await other.emit("updateUserLocation", BERLIN)
                    assert [c["id"] for c in await other.next("vendor_channels")] == [vendor_id]
                    await vendor.emit("updateVendorLocation", {"lat": 52.53, "long": 13.41})
                    assert (await other.next("vendor_sync"))["id"] == vendor_id
                    await user.next("vendor_sync")
            # gone from B for good: every process's watchers are told
            assert await user.next("vendor_left") == {"id": vendor_id}
        assert await _cells_watched(b) == 0
