"""NATS going down under a running application (a ``nats-server`` of the test's own): live
location updates keep succeeding (the position is stored; its message is buffered, or dropped
once the buffer is full), the outage is logged once, and the bus reconnects by itself."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.events.helpers import NatsServer, wait_until
from tests.faults import started, warnings_of
from venta_core.app import Venta
from venta_core.errors import ServiceUnavailable
from venta_core.ports.bus import BusMessage
from venta_core.ports.bus_nats import PENDING_BYTES, NatsEventBus
from venta_core.ports.identity import DevTokenProvider
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    with started(NatsServer(tmp_path / "jetstream")) as server:
        yield server


@pytest.fixture
async def app(
    tmp_path: Path, sqlite_template: Path, nats_server: NatsServer
) -> AsyncIterator[Venta]:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    settings = embedded_settings(
        db,
        database_auto_migrate=False,
        nats_url=nats_server.url,
        # No vendor.moved events: the outbox relay's own warning (events wait in the outbox)
        # is not what this test counts.
        location={"moved_event_interval_seconds": 0},
    )
    async with Venta(settings, load_entry_points=False) as application:
        yield application  # its streams go with the server's private store


async def test_live_updates_succeed_while_nats_is_down_and_the_bus_reconnects(
    app: Venta, nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = app.bus
    assert isinstance(bus, NatsEventBus)
    heard: asyncio.Queue[BusMessage] = asyncio.Queue()
    sub = await bus.subscribe(f"{app.settings.key_prefix}.live.>", heard.put)
    transport = httpx.ASGITransport(app=create_http_app(app))
    http = httpx.AsyncClient(transport=transport, base_url="http://venta.test")
    alice = {"Authorization": f"Bearer {DevTokenProvider(app.settings.auth).issue('alice')}"}
    try:
        created = await http.post("/v1/vendors", json={"name": "Nats Nachos"}, headers=alice)
        location = f"/v1/vendors/{created.json()['id']}/location"
        assert (await http.put(location, json={"lat": 1, "long": 2}, headers=alice)).is_success
        await asyncio.wait_for(heard.get(), 10)
        caplog.clear()
        caplog.set_level(logging.INFO)

        nats_server.stop()
        await wait_until(_down(bus), timeout=30)
        # Reconnecting: messages wait in the client's buffer.
        assert (await http.put(location, json={"lat": 3, "long": 4}, headers=alice)).is_success
        # Fill the buffer to the last few bytes: then a position cannot even be buffered.
        for size in (PENDING_BYTES // 3, 65_536, 1024, 16):
            with pytest.raises(ServiceUnavailable):
                for _ in range(PENDING_BYTES // size + 1):
                    await bus.publish(f"{app.settings.key_prefix}.junk", b"x" * size)
        for n in range(3):
            put = await http.put(location, json={"lat": 5, "long": n}, headers=alice)
            assert put.status_code == 200, put.text  # stored, its message dropped
        stored = await http.get(location, headers=alice)
        assert stored.json()["location"] == {"lat": 5, "long": 2}
        (warning,) = warnings_of(caplog)
        assert warning.startswith(f"nats at {nats_server.url} is unavailable")
        assert not [r for r in caplog.records if r.exc_info]

        nats_server.start()
        await wait_until(_up(bus), timeout=30)
        while not heard.empty():  # what the buffer held, delivered after the reconnection
            heard.get_nowait()
        assert (await http.put(location, json={"lat": 7, "long": 8}, headers=alice)).is_success
        message = await asyncio.wait_for(heard.get(), 10)
        assert b'"lat": 7' in message.data
        assert len(warnings_of(caplog)) == 1
        assert any(r.getMessage().startswith("nats is available again") for r in caplog.records)
    finally:
        await http.aclose()
        await sub.unsubscribe()


def _down(bus: NatsEventBus) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not bus.dependency.available

    return check


def _up(bus: NatsEventBus) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bus.dependency.available and bus.nc.is_connected

    return check
