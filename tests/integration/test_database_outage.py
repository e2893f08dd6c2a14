"""PostgreSQL going away under a running application (reached through a TCP proxy the test cuts;
the shared server is never stopped): routes that need the database answer 503
``SERVICE_UNAVAILABLE``, routes that do not keep working (nearby queries on Redis, live updates
whose position waits in the write-behind), the outage is logged once, and everything recovers
by itself."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from tests.backends import RUN_PREFIX, real_service_url
from tests.events.helpers import wait_until
from tests.faults import TcpProxy, warnings_of
from venta_core.app import Venta
from venta_core.errors import ServiceUnavailable
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import Settings
from venta_core.store.engine import Database
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

BERLIN = {"lat": 52.52, "long": 13.405}
MOVED = {"lat": 52.53, "long": 13.41}
CIRCLE = "lat=52.52&long=13.4&radius=3000"


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    target = urlsplit(postgres_url)
    p = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def app(postgres_url: str, proxy: TcpProxy) -> AsyncIterator[Venta]:
    settings = Settings(
        _env_file=None,
        database_url=proxy.url_for(postgres_url),
        redis_url=real_service_url("redis"),
        key_prefix=f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
        database_auto_migrate=False,
        location={"flush_interval_seconds": 0.2, "warm_geo_index": False},
        events={"relay_interval_seconds": 0.2},
    )
    async with Venta(settings, load_entry_points=False) as application:
        yield application
        await application.geo.clear()


@pytest.fixture
async def http(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
        yield c


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("SERVICE_UNAVAILABLE", {"dependency": "database"})
    assert "postgres" not in response.text and "127.0.0.1" not in response.text


async def test_routes_that_need_postgresql_answer_503_and_recover(
    app: Venta, http: httpx.AsyncClient, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    alice = {"Authorization": f"Bearer {DevTokenProvider(app.settings.auth).issue('alice')}"}
    created = await http.post("/v1/vendors", json={"name": "Proxy Pretzels"}, headers=alice)
    vendor_id = created.json()["id"]
    location = f"/v1/vendors/{vendor_id}/location"
    assert (await http.put(location, json=BERLIN, headers=alice)).status_code == 200
    caplog.clear()
    caplog.set_level(logging.INFO)

    await proxy.cut()
    for _ in range(3):
        _unavailable(await http.get(f"/v1/vendors/{vendor_id}", headers=alice))
        _unavailable(await http.post("/v1/vendors", json={"name": "Lost"}, headers=alice))
        _unavailable(await http.get("/v1/me", headers=alice))
        # Live positions do not need the database: stored now, written behind later.
        put = await http.put(location, json=MOVED, headers=alice)
        assert put.status_code == 200, put.text
        near = await http.get(f"/v1/vendors/nearby?{CIRCLE}", headers=alice)
        assert near.status_code == 200, near.text
        assert near.json()["vendors"][0]["location"] == pytest.approx(MOVED, abs=1e-5)
    await wait_until(lambda: _flush_failed(app), timeout=10)  # the write-behind tried, quietly

    (warning,) = warnings_of(caplog)
    assert warning.startswith("database at postgresql+asyncpg://postgres@127.0.0.1:")
    assert not [r for r in caplog.records if r.exc_info]

    await proxy.restore()

    async def persisted() -> bool:
        vendor = await http.get(f"/v1/vendors/{vendor_id}", headers=alice)
        return vendor.status_code == 200 and (vendor.json()["lat"], vendor.json()["long"]) == (
            MOVED["lat"],
            MOVED["long"],
        )

    await wait_until(persisted, timeout=30, every=0.2)  # the last position was not lost
    again = await http.post("/v1/vendors", json={"name": "Back"}, headers=alice)
    assert again.status_code == 201, again.text
    assert len(warnings_of(caplog)) == 1
    assert any(r.getMessage().startswith("database is available again") for r in caplog.records)


async def _flush_failed(app: Venta) -> bool:
    return app.vendor_positions.pending == 1 and not app.database.dependency.available


async def test_other_failures_inside_a_transaction_are_not_taken_for_an_outage(
    tmp_path: Path, sqlite_template: Path
) -> None:
    db_file = tmp_path / "venta.db"
    shutil.copyfile(sqlite_template, db_file)
    database = Database(embedded_settings(db_file, database_auto_migrate=False))
    await database.start()
    try:
        with pytest.raises(ConnectionRefusedError):
            async with database.begin() as conn:
                await conn.execute(sa.text("SELECT 1"))
                raise ConnectionRefusedError("the broker, not the database")
        assert database.dependency.available and database.dependency.outages == 0
    finally:
        await database.stop()


async def test_a_relay_transaction_cut_off_mid_way_fails_as_an_outage(
    app: Venta, proxy: TcpProxy
) -> None:
    """The relay's rollback hook must not trip over the broken connection (which would
    replace the outage with a PendingRollbackError)."""
    with pytest.raises(ServiceUnavailable):
        async with app.relay._own_transaction() as conn:
            await conn.execute(sa.text("SELECT 1"))
            await proxy.cut()
            await conn.execute(sa.text("SELECT 1"))
    await proxy.restore()
    assert await app.relay.relay_pending() >= 0
