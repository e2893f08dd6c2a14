"""Redis coming back empty (restarted without persistence, as after a failover to an empty
replica) under two running application processes sharing it: the live positions come back from
the database, refilled once (not by every process), without overwriting a position set since
and without bringing back a vendor that went offline. On SQLite and on PostgreSQL, each with a
``redis-server`` of the test's own."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.backends import RUN_PREFIX
from tests.events.helpers import wait_until
from tests.faults import RedisServer, started
from venta_core.app import Venta
from venta_core.domain import Actor, Location, VendorCreate
from venta_core.errors import LocationNotFound
from venta_core.settings import Settings
from venta_core.testing import truncate_all

pytestmark = pytest.mark.integration

BERLIN = Location(lat=52.52, long=13.405)
PARIS = Location(lat=48.8566, long=2.3522)
REFILLED = "geo index refilled from the database"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with started(RedisServer(tmp_path)) as server:
        yield server


@pytest.fixture
async def apps(backend_settings: Settings, redis_server: RedisServer) -> AsyncIterator[list[Venta]]:
    """Two processes' applications on one database and one Redis."""
    location: dict[str, Any] = {"refill_check_seconds": 0.2, "flush_interval_seconds": 0.1}
    settings = backend_settings.model_copy(
        update={
            "redis_url": redis_server.url,
            "nats_url": None,
            "key_prefix": f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}",
            "location": backend_settings.location.model_copy(update=location),
        }
    )
    async with AsyncExitStack() as stack:
        first = Venta(settings, load_entry_points=False)
        if not settings.is_sqlite:
            await first.database.start()
            await truncate_all(first)
        second = Venta(settings, load_entry_points=False)
        yield [await stack.enter_async_context(app) for app in (first, second)]


async def _where(app: Venta, vendor_id: str) -> Location | None:
    try:
        return (await app.locations.get_vendor_location(vendor_id)).location
    except LocationNotFound:
        return None
    except Exception:  # Redis not back yet
        return None


async def test_a_redis_that_comes_back_empty_is_refilled_once_from_the_database(
    apps: list[Venta], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    one, two = apps
    owner = Actor.for_user(await one.users.ensure_user("owner"))
    stall, mover, gone = [
        (await one.vendors.create_vendor(owner, VendorCreate(name=name))).id
        for name in ("REST-only Stall", "Mover", "Gone Home")
    ]
    for vendor_id in (stall, mover, gone):
        await one.locations.update_vendor_location(owner, vendor_id, BERLIN)
    await one.locations.remove_vendor_location(owner, gone)  # offline
    await one.vendor_positions.flush()
    caplog.set_level(logging.INFO)
    caplog.clear()

    redis_server.stop()
    redis_server.start()  # empty
    # The first call to reach the new Redis: a position newer than the database's.
    await wait_until(lambda: _moved(two, owner, mover), timeout=30, every=0.1)

    async def refilled() -> bool:
        return await _where(one, stall) is not None and await _where(two, stall) is not None

    await wait_until(refilled, timeout=30, every=0.1)
    assert await _where(one, mover) == PARIS  # not overwritten by the database's Berlin
    assert await _where(two, gone) is None  # went offline before: stays off the map
    near = await two.locations.vendors_near(BERLIN, 1_000, 10)
    assert [p.id for p in near] == [stall]
    assert sum(r.getMessage().startswith(REFILLED) for r in caplog.records) == 1
    for app in apps:  # both checked, and find nothing to do
        assert app.geo_refill is not None and await app.geo_refill.refill() is None


async def _moved(app: Venta, owner: Actor, vendor_id: str) -> bool:
    try:
        await app.locations.update_vendor_location(owner, vendor_id, PARIS)
    except Exception:
        return False
    return True
