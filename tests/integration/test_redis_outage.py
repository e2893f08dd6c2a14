"""Redis going down under a running application (a ``redis-server`` of the test's own, the
shared one is never stopped): what needs it answers 503 ``SERVICE_UNAVAILABLE`` on HTTP (gRPC
``UNAVAILABLE``, a Socket.IO ``error`` event), the outage is logged once, rate limits fail
open, and everything recovers by itself when Redis returns."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.events.helpers import wait_until
from tests.faults import RedisServer, started, warnings_of
from tests.grpc.conftest import fast_settings
from tests.realtime.harness import Server, client, realtime_settings, running
from venta_core.app import Venta
from venta_core.domain import Location
from venta_core.errors import ServiceUnavailable
from venta_core.settings import Settings
from venta_core.testing import embedded_settings
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import build_grpc_server
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

BERLIN = {"lat": 52.52, "long": 13.405}
BOX = "swLat=52.5&swLong=13.3&neLat=52.6&neLong=13.5"
CIRCLE = "lat=52.52&long=13.4&radius=2000"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with started(RedisServer(tmp_path)) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, redis_server: RedisServer) -> Settings:
    db = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db)
    base = embedded_settings(db, database_auto_migrate=False, redis_url=redis_server.url)
    return realtime_settings(base)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with running(settings) as s:
        yield s


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(server.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {"dependency": "redis"}
    assert error["requestId"]
    assert "redis://" not in response.text and "127.0.0.1" not in response.text


async def _redis_back(app: Venta) -> bool:
    try:
        await app.geo.count()
    except Exception:
        return False
    return True


async def test_http_answers_503_while_redis_is_down_and_recovers(
    server: Server,
    http: httpx.AsyncClient,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = {"Authorization": f"Bearer {server.token('alice')}"}
    vendor_id = await server.vendor("alice")
    location = f"/v1/vendors/{vendor_id}/location"
    assert (await http.put(location, json=BERLIN, headers=alice)).status_code == 200
    caplog.clear()
    caplog.set_level(logging.INFO)

    redis_server.stop()
    for _ in range(3):
        _unavailable(await http.put(location, json=BERLIN, headers=alice))
        _unavailable(await http.get(location, headers=alice))
        _unavailable(await http.get(f"/v1/vendors/nearby?{BOX}", headers=alice))
        _unavailable(await http.get(f"/v1/vendors/nearby?{CIRCLE}", headers=alice))
        # Deleting the vendor would leave it on the map: nothing is deleted.
        _unavailable(await http.delete(f"/v1/vendors/{vendor_id}", headers=alice))
        # What does not need Redis keeps working; rate limits fail open.
        assert (await http.get(f"/v1/vendors/{vendor_id}", headers=alice)).status_code == 200

    (warning,) = warnings_of(caplog)
    assert warning.startswith("redis at redis://127.0.0.1:") and "SERVICE_UNAVAILABLE" in warning
    assert not [r for r in caplog.records if r.exc_info]  # no traceback

    redis_server.start()  # back, and empty (no persistence)
    moved = {"lat": 52.53, "long": 13.41}
    put = await http.put(location, json=moved, headers=alice)
    assert put.status_code == 200, put.text
    near = await http.get(f"/v1/vendors/nearby?{CIRCLE}", headers=alice)
    assert near.status_code == 200 and [v["id"] for v in near.json()["vendors"]] == [vendor_id]
    assert len(warnings_of(caplog)) == 1
    assert any(r.getMessage().startswith("redis is available again") for r in caplog.records)
    assert (await http.delete(f"/v1/vendors/{vendor_id}", headers=alice)).status_code == 204
    near = await http.get(f"/v1/vendors/nearby?{CIRCLE}", headers=alice)
    assert near.json() == {"vendors": []}


async def test_socketio_location_updates_get_an_error_event_while_redis_is_down(
    server: Server, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    vendor_id = await server.vendor("olga")
    async with client(server, "/vendor", server.token("olga")) as vendor:
        await vendor.emit("updateVendorLocation", {"vendorId": vendor_id, **BERLIN})
        await server.located(vendor_id, BERLIN["lat"], BERLIN["long"])
        caplog.clear()

        redis_server.stop()
        for _ in range(3):
            await vendor.emit("updateVendorLocation", {"vendorId": vendor_id, **BERLIN})
            error = await vendor.next("error")
            assert error["code"] == "SERVICE_UNAVAILABLE", error
            assert "redis://" not in str(error)
        assert vendor.connected  # the connection stays up
        assert len(warnings_of(caplog)) == 1

        redis_server.start()
        await wait_until(lambda: _redis_back(server.app), timeout=30)
        await vendor.emit(
            "updateVendorLocation", {"vendorId": vendor_id, "lat": 52.5, "long": 13.4}
        )
        await server.located(vendor_id, 52.5, 13.4)
        assert vendor.events["error"].empty()
    assert len(warnings_of(caplog)) == 1


async def test_grpc_answers_unavailable_while_redis_is_down(
    server: Server, redis_server: RedisServer
) -> None:
    settings = fast_settings()
    grpc_server = build_grpc_server(server.app, ["location"], "127.0.0.1:0", settings=settings)
    await grpc_server.start()
    clients = GrpcClients(settings)
    locations = clients.locations(grpc_server.address)
    center = Location(lat=52.52, long=13.4)
    try:
        assert await locations.vendors_near(center, 1000, 10) == []

        redis_server.stop()
        with pytest.raises(ServiceUnavailable) as info:
            await locations.vendors_near(center, 1000, 10)
        assert info.value.details == {"dependency": "redis"}

        redis_server.start()
        assert await locations.vendors_near(center, 1000, 10) == []
    finally:
        await clients.stop()
        await grpc_server.stop(0)
