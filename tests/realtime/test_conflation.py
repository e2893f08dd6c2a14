"""A watcher that stops reading is conflated, not dropped: when it reads again it gets the
latest position of each vendor, never an older one after a newer one, and fewer frames than
were sent. Driven by a raw websocket client with a tiny receive buffer that stops reading."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.realtime.harness import TIMEOUT, Server, box, realtime_settings, running, subject
from venta_core.domain.cells import encode as cell_of
from venta_core.events import live_subject
from venta_core.settings import Settings

BERLIN = box((52.50, 13.38), (52.54, 13.43))
MAX_UPDATES = 100_000
VENDORS = 3


def _settings(base: Settings, max_send_buffer_bytes: int) -> Settings:
    return realtime_settings(
        base,
        conflate_above_bytes=2048,
        coalesce_moves=False,  # every position reaches the client's connection: its conflation
        max_send_buffer_bytes=max_send_buffer_bytes,
        ping_interval_seconds=60.0,  # the client does not read: no ping timeout meanwhile
        ping_timeout_seconds=60.0,
    )


@pytest.fixture
async def server(backend_settings: Settings) -> AsyncIterator[Server]:
    async with running(_settings(backend_settings, 64 * 1024 * 1024)) as srv:
        yield srv


async def _metric(server: Server, name: str) -> float:
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def _slow_reader(server: Server, token: str) -> Any:
    """A websocket on /user whose kernel receive buffer is tiny and whose client library stops
    reading the socket as soon as one frame waits unread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    ws = await websockets.connect(url, sock=sock, max_queue=1, open_timeout=TIMEOUT)
    assert str(await ws.recv()).startswith("0{")
    await ws.send("40/user," + json.dumps({"token": token}))
    assert str(await ws.recv()).startswith("40/user,")
    return ws


async def _next_event(ws: Any) -> list[Any]:
    while True:
        frame = str(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame == "2":
            await ws.send("3")
        elif frame.startswith("42/user,"):
            event: list[Any] = json.loads(frame[len("42/user,") :])
            return event


async def _move(server: Server, vendor_id: str, lat: float, long: float, cell: str) -> str:
    """Announce a position on the bus as the location service does (the fan-out's input),
    without the geo index write, so that enough frames to fill the kernel's buffers take
    little time. Returns the vendor's cell."""
    settings = server.app.settings
    now = cell_of(lat, long, settings.geo.cell_precision)
    body = json.dumps({"vendorId": vendor_id, "lat": lat, "long": long}).encode()
    for name in {now, cell} - {""}:
        await server.app.bus.publish(live_subject(settings.key_prefix, name, vendor_id), body)
    return now


async def test_a_client_that_stops_reading_gets_the_latest_position_per_vendor(
    server: Server,
) -> None:
    vendors = [await server.vendor(subject()) for _ in range(VENDORS)]
    ws = await _slow_reader(server, server.token(subject()))
    try:
        await ws.send("42/user," + json.dumps(["updateUserLocation", BERLIN]))
        assert (await _next_event(ws))[0] == "vendor_channels"

        # the client reads nothing while the vendors move east, until the frames written to
        # it fill the kernel's buffers and it is conflated
        final: dict[str, float] = {}
        cells = dict.fromkeys(vendors, "")
        sent = 0
        conflated = 0.0
        while conflated == 0 and sent < MAX_UPDATES:
            for _ in range(1000):
                k = sent % VENDORS
                long = round(13.39 + sent * 1e-7, 7)
                cells[vendors[k]] = await _move(
                    server, vendors[k], 52.51 + k * 0.01, long, cells[vendors[k]]
                )
                final[vendors[k]] = long
                sent += 1
            await server.app.bus.flush()
            conflated = await _metric(server, "venta_ws_conflated_total")
        assert conflated > 0
        assert await _metric(server, "venta_ws_slow_consumers_total") == 0

        # reading again: every vendor ends at its latest position, each moving only forward
        seen: dict[str, float] = {}
        syncs = 0
        while seen != final:
            name, data = (await _next_event(ws))[:2]
            assert name == "vendor_sync", (name, data)
            long = data["location"]["long"]
            assert long > seen.get(data["id"], 0.0), "an older position after a newer one"
            seen[data["id"]] = long
            syncs += 1
        assert syncs < sent
        assert syncs + await _metric(server, "venta_ws_conflated_total") == sent
        assert await _metric(server, "venta_ws_slow_consumers_total") == 0
    finally:
        await ws.close()


async def test_past_the_hard_limit_the_client_is_disconnected(backend_settings: Settings) -> None:
    """The backlog holds one frame per vendor: with enough vendors moving, unsent data plus
    backlog passes ``MAX_SEND_BUFFER_BYTES`` and the client is dropped."""
    async with running(_settings(backend_settings, 8192)) as server:
        ws = await _slow_reader(server, server.token(subject()))
        try:
            await ws.send("42/user," + json.dumps(["updateUserLocation", BERLIN]))
            assert (await _next_event(ws))[0] == "vendor_channels"
            cells: dict[str, str] = {}
            sent = 0
            while sent < MAX_UPDATES:
                for _ in range(1000):  # many vendors: conflation cannot keep the backlog small
                    vid = f"v{sent % 500}"
                    long = round(13.39 + sent * 1e-7, 7)
                    cells[vid] = await _move(server, vid, 52.51, long, cells.get(vid, ""))
                    sent += 1
                await server.app.bus.flush()
                if await _metric(server, "venta_ws_slow_consumers_total"):
                    break
            assert await _metric(server, "venta_ws_slow_consumers_total") == 1
            with pytest.raises(websockets.ConnectionClosed):  # what was sent, then the end
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
        finally:
            await ws.close()
