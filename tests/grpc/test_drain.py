"""Graceful stop under load: a stopping replica turns NOT_SERVING, drains, finishes its calls,
and answers UNAVAILABLE to the calls that outlive the grace period; clients move on."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.grpc.conftest import fast_settings
from tests.grpc.spies import SpyVendors, spy_host
from venta_core.domain import Actor, VendorCreate
from venta_core.errors import ServiceUnavailable, VentaError
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server

OWNER = Actor(user_id="owner")
WAIT = 30.0  # generous bound of every wait: a loaded machine is slow, a hang fails


async def _serve(spy: SpyVendors, address: str, **settings: Any) -> GrpcServer:
    grpc = fast_settings(**settings)
    server = build_grpc_server(spy_host(grpc, spy), ["vendor"], address, settings=grpc)
    await server.start()
    return server


async def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def clients() -> AsyncIterator[GrpcClients]:
    clients = GrpcClients(fast_settings(deadline_seconds=10.0))
    yield clients
    await clients.stop()


async def test_stopping_one_of_two_replicas_under_load_fails_no_call(
    clients: GrpcClients,
) -> None:
    slow, fast = SpyVendors(delay=0.002), SpyVendors()
    a = await _serve(slow, "127.0.0.1:0", shutdown_drain_seconds=0.5)
    b = await _serve(fast, f"127.0.0.2:{a.port}")
    vendors = clients.vendors(f"ipv4:127.0.0.1:{a.port},127.0.0.2:{a.port}")
    outcomes: Counter[str] = Counter()
    stopping = asyncio.Event()

    async def load() -> None:
        while not stopping.is_set():
            try:
                await vendors.get_vendor("v")
                outcomes["OK"] += 1
            except VentaError as exc:
                outcomes[exc.code] += 1

    workers = [asyncio.create_task(load()) for _ in range(32)]
    try:
        await _until("calls on replica a", lambda: len(slow.seen) >= 10)
        await asyncio.wait_for(a.stop(2.0), WAIT)  # while a has slow calls in flight
        calls_on_b = len(fast.seen)
        await _until("b alone carrying the load", lambda: len(fast.seen) >= calls_on_b + 50)
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*workers), WAIT)
        await b.stop(0)
    assert set(outcomes) == {"OK"}, outcomes  # no CANCELLED (500) and no 503 either


async def test_calls_outliving_the_grace_period_are_answered_unavailable(
    clients: GrpcClients,
) -> None:
    stuck, healthy = SpyVendors(), SpyVendors()
    a = await _serve(stuck, "127.0.0.1:0")
    b = await _serve(healthy, f"127.0.0.2:{a.port}")
    only_a = clients.vendors(a.address)
    both = clients.vendors(f"ipv4:127.0.0.1:{a.port},127.0.0.2:{a.port}")
    while not (stuck.seen and healthy.seen):  # both connected: round robin alternates
        await asyncio.wait_for(both.get_vendor("warm-up"), WAIT)
    before = len(stuck.seen)
    stuck.delay = WAIT
    create = asyncio.create_task(only_a.create_vendor(OWNER, VendorCreate(name="Late")))
    reads = [asyncio.create_task(both.get_vendor(f"r{i}")) for i in range(6)]
    try:
        # the create and three of the reads are stuck on a
        await _until("calls stuck on replica a", lambda: len(stuck.seen) >= before + 4)
        started = time.monotonic()
        await asyncio.wait_for(a.stop(0.5), WAIT)
        assert time.monotonic() - started < 5.0  # the grace, not the calls' WAIT seconds

        # never retried (it might have run): 503 SERVICE_UNAVAILABLE, not a 500
        with pytest.raises(ServiceUnavailable) as info:
            await asyncio.wait_for(create, WAIT)
        assert info.value.details == {"service": "vendor", "grpcStatus": "UNAVAILABLE"}
        # idempotent: retried on the replica that still serves
        done = await asyncio.wait_for(asyncio.gather(*reads), WAIT)
        assert sorted(v.id for v in done) == [f"r{i}" for i in range(6)]
    finally:
        for task in [create, *reads]:
            task.cancel()
        await a.stop(0)
        await b.stop(0)


async def test_a_stop_with_nothing_in_flight_does_not_wait_for_health_watchers(
    clients: GrpcClients,
) -> None:
    server = await _serve(SpyVendors(), "127.0.0.1:0")
    await clients.vendors(server.address).get_vendor("v")  # the channel now watches health
    started = time.monotonic()
    await asyncio.wait_for(server.stop(10.0), WAIT)
    assert time.monotonic() - started < 3.0
