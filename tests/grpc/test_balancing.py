"""One client address naming several servers spreads calls over all of them (round robin)."""

from __future__ import annotations

from tests.grpc.conftest import fast_settings
from tests.grpc.spies import SpyVendors, spy_host
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import build_grpc_server


async def test_calls_are_spread_over_every_resolved_server() -> None:
    settings = fast_settings()
    first, second = SpyVendors(), SpyVendors()
    a = build_grpc_server(spy_host(settings, first), ["vendor"], "127.0.0.1:0", settings=settings)
    await a.start()
    b = build_grpc_server(
        spy_host(settings, second), ["vendor"], f"127.0.0.2:{a.port}", settings=settings
    )
    await b.start()
    clients = GrpcClients(settings)
    try:
        vendors = clients.vendors(f"ipv4:127.0.0.1:{a.port},127.0.0.2:{a.port}")
        for i in range(20):
            await vendors.get_vendor(f"v-{i}")
    finally:
        await clients.stop()
        await a.stop(0)
        await b.stop(0)
    assert len(first.seen) + len(second.seen) == 20
    assert first.seen and second.seen
