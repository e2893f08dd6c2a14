"""A crashed ws process leaves no vendors on the map.

Process A is a real `venta serve ws` OS process; B runs in the test. A vendor publishes through
A while a user watches on B. A is killed with SIGKILL, so it runs no disconnect handling at all:
its holds on the shared presence stop being renewed, B's sweep takes the vendor once they
expire, the position is removed and the user on B gets ``vendor_left``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import real_settings
from tests.e2e.processes import VentaProcess, clean_env, free_port, http_ok, wait_until
from tests.realtime.harness import Server, box, client, realtime_settings, running, subject
from venta_core.errors import LocationNotFound

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BERLIN = box((52.50, 13.38), (52.54, 13.43))
TTL = 3.0


async def _gone(server: Server, vendor_id: str) -> bool:
    try:
        await server.app.locations.get_vendor_location(vendor_id)
    except LocationNotFound:
        return True
    return False


async def test_a_killed_process_leaves_no_ghosts(postgres_url: str, tmp_path: Path) -> None:
    settings = realtime_settings(
        real_settings(postgres_url),
        presence_ttl_seconds=TTL,
        presence_sweep_seconds=0.2,
        offline_grace_seconds=30.0,  # so only the expiry of A's holds can remove the vendor
    )
    port = free_port()
    a = VentaProcess(
        "ws-a",
        ["serve", "ws", "--host", "127.0.0.1", "--port", str(port)],
        clean_env(
            VENTA_DATABASE_URL=postgres_url,
            VENTA_DATABASE_AUTO_MIGRATE="false",
            VENTA_REDIS_URL=str(settings.redis_url),
            VENTA_NATS_URL=str(settings.nats_url),
            VENTA_KEY_PREFIX=settings.key_prefix,
            VENTA_LOCATION__WARM_GEO_INDEX="false",
            VENTA_REALTIME__PRESENCE_TTL_SECONDS=str(TTL),
            VENTA_REALTIME__OFFLINE_GRACE_SECONDS="30",
        ),
        tmp_path,
        tmp_path / "ws-a.log",
    ).start()
    try:
        await asyncio.to_thread(
            wait_until,
            "ws-a ready",
            lambda: http_ok(f"http://127.0.0.1:{port}/ready"),
            60,
            watch=[a],
        )
        async with running(settings) as b:
            on_a = Server(b.app, port, b.tokens)  # A's address, B's services (same backends)
            owner = subject()
            vendor_id = await b.vendor(owner)
            async with client(b, "/user", b.token(subject())) as user:
                await user.emit("updateUserLocation", BERLIN)
                assert await user.next("vendor_channels") == []
                async with client(on_a, "/vendor", on_a.token(owner)) as vendor:
                    await vendor.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
                    assert (await user.next("vendor_sync"))["id"] == vendor_id
                    # the hold is taken right after the position is published: wait for it
                    assert await _held(b, vendor_id)
                    await user.nothing("vendor_left", TTL + 0.5)  # A keeps renewing its hold

                    a.kill9()
                    # A's last renewal was at most TTL/3 s ago: its hold runs out within TTL
                    assert await user.next("vendor_left", timeout=TTL + 10) == {"id": vendor_id}
                    assert await _gone(b, vendor_id)
                    assert await b.app.presence.holder(vendor_id) is None
    finally:
        a.stop()


async def _held(server: Server, vendor_id: str, timeout: float = 10.0) -> bool:
    """Whether some connection holds ``vendor_id`` within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await server.app.presence.holder(vendor_id) is not None:
            return True
        await asyncio.sleep(0.05)
    return False
