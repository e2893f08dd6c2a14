"""A ``LocalLocationService`` over a given geo index, for benchmarks.

Everything is the production code path: the ownership check (owners warm in the cache, as for a
vendor streaming its position), the geo index, the write-behind recorder and the live-subject
publish on an in-process bus (or the bus given, e.g. NATS). The database is a temporary SQLite
file holding the vendor rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from venta_core.domain import Actor
from venta_core.ports.bus import EventBus
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.ports.geo import GeoIndex
from venta_core.services.locations import LocalLocationService
from venta_core.services.vendors import LocalVendorService
from venta_core.settings import Settings
from venta_core.store.engine import Database
from venta_core.store.migrate import upgrade_async
from venta_core.store.positions import MovedEvents, PositionWriteBehind
from venta_core.store.tables import users, vendors

OWNER_ID = "00000000-0000-4000-8000-00000000b0b0"
OWNER = Actor(user_id=OWNER_ID, external_id="bench-owner")


@asynccontextmanager
async def location_service(
    index: GeoIndex, vendor_ids: list[str], bus: EventBus | None = None, key_prefix: str = "venta"
) -> AsyncIterator[LocalLocationService]:
    """``bus``: a started bus to publish on (the caller stops it); by default an in-process
    one. ``key_prefix`` roots the live subjects."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(_env_file=None, database_url=url, key_prefix=key_prefix)
        await upgrade_async(settings)
        db = Database(settings)
        await db.start()
        now = datetime.now(UTC)
        async with db.begin() as conn:
            await conn.execute(
                users.insert(),
                [{"id": OWNER_ID, "external_id": "bench", "created_at": now, "updated_at": now}],
            )
            rows = [
                {"id": v, "owner_id": OWNER_ID, "name": v[:8], "created_at": now, "updated_at": now}
                for v in vendor_ids
            ]
            await conn.execute(vendors.insert(), rows)
        vendor_service = LocalVendorService(db, index)
        for vendor_id in vendor_ids:
            vendor_service.owners.put(vendor_id, OWNER_ID)
        loc = settings.location
        writer = PositionWriteBehind(  # as the application builds it: vendor.moved included
            db,
            vendors,
            interval=loc.flush_interval_seconds,
            max_pending=loc.flush_max_pending,
            moved=MovedEvents.from_settings(loc),
        )
        user_writer = PositionWriteBehind(
            db, users, interval=loc.flush_interval_seconds, max_pending=loc.flush_max_pending
        )
        own: list[EventBus] = [] if bus is not None else [MemoryEventBus()]
        bus = bus or own[0]
        service = LocalLocationService(settings, index, bus, vendor_service, writer, user_writer)
        for component in (*own, writer, user_writer):
            await component.start()
        try:
            yield service
        finally:
            for component in (user_writer, writer, *own):
                await component.stop()
            await db.stop()
