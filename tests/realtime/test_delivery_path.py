"""Which way events reach watchers, read from ``venta_ws_deliveries_total`` on ``/metrics``.

A watcher on a websocket, opened directly or upgraded from long-polling, must get its events
through the direct frame write: if an upgrade of uvicorn, python-engineio or websockets changes
what the fan-out relies on, it silently falls back to python-socketio's queue (correct, but
several times slower), and these tests are what notices. A watcher on long-polling goes through
the queue, as it must.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.realtime.harness import (
    TIMEOUT,
    Server,
    at,
    box,
    client,
    realtime_settings,
    running,
    subject,
)
from venta_core.settings import Settings

BERLIN = box((52.50, 13.38), (52.54, 13.43))
_SAMPLE = re.compile(r'^venta_ws_deliveries_total\{path="(\w+)"\} (\S+)$', re.MULTILINE)


@pytest.fixture
async def server(backend_settings: Settings) -> AsyncIterator[Server]:
    # A long-polling client's disconnect waits for its pending poll, which python-engineio
    # holds for up to a ping interval plus a ping timeout after the client's CLOSE.
    settings = realtime_settings(
        backend_settings, ping_interval_seconds=1.0, ping_timeout_seconds=1.0
    )
    async with running(settings) as srv:
        yield srv


async def _deliveries(server: Server) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    return {path: float(value) for path, value in _SAMPLE.findall(text)}


async def _one_update_delivered(server: Server, transports: list[str]) -> dict[str, float]:
    """Deliveries by path while a vendor update reaches one watcher on ``transports`` (the
    last one once the client is on it: an upgrade from long-polling has completed)."""
    owner = subject()
    vendor_id = await server.vendor(owner)
    async with (
        client(server, "/vendor", server.token(owner)) as vendor,
        client(server, "/user", server.token(subject()), transports=transports) as user,
    ):
        for _ in range(int(TIMEOUT / 0.02)):
            if user.sio.transport() == transports[-1]:
                break
            await asyncio.sleep(0.02)
        assert user.sio.transport() == transports[-1]
        await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.405})
        await server.located(vendor_id, 52.52, 13.405)
        await user.emit("updateUserLocation", BERLIN)
        [channel] = await user.next("vendor_channels")
        assert channel["id"] == vendor_id

        before = await _deliveries(server)
        await vendor.emit("updateVendorLocation", {"lat": 52.521, "long": 13.406})
        assert at(await user.next("vendor_sync"), 52.521, 13.406)
        after = await _deliveries(server)
    return {path: after.get(path, 0.0) - before.get(path, 0.0) for path in ("direct", "queued")}


async def test_a_websocket_watcher_gets_the_direct_frame_write(server: Server) -> None:
    delta = await _one_update_delivered(server, ["websocket"])

    assert delta == {"direct": 1.0, "queued": 0.0}


async def test_a_watcher_upgraded_from_long_polling_gets_the_direct_frame_write(
    server: Server,
) -> None:
    delta = await _one_update_delivered(server, ["polling", "websocket"])

    assert delta == {"direct": 1.0, "queued": 0.0}


async def test_a_long_polling_watcher_goes_through_the_queue(server: Server) -> None:
    delta = await _one_update_delivered(server, ["polling"])

    assert delta == {"direct": 0.0, "queued": 1.0}


async def test_both_paths_are_exported_before_any_delivery(server: Server) -> None:
    assert await _deliveries(server) == {"direct": 0.0, "queued": 0.0}
