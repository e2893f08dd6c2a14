"""`venta demo simulate` against a running `serve all`."""

from __future__ import annotations

from tests.realtime.harness import realtime_settings, running
from venta_cli.simulate import simulate
from venta_core.settings import Settings


async def test_simulation_delivers_and_measures(backend_settings: Settings) -> None:
    settings = realtime_settings(backend_settings, vendor_messages_per_minute=1000)
    async with running(settings, roles=("gateway", "ws")) as server:
        result = await simulate(
            url=server.url,
            ws_url=server.url,
            tokens=lambda sub: server.token(sub),
            center=(52.52, 13.405),
            vendors=3,
            users=4,
            duration=2.0,
            interval=0.2,
        )
    assert result.updates_sent >= 3 * 5
    assert result.delivered > 0
    assert not result.errors
    p50, p99 = result.percentile(50), result.percentile(99)
    assert p50 is not None and p99 is not None and 0 < p50 <= p99
