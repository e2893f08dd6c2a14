"""Connection state recovery with the official ``socket.io-client`` (npm, run by Node).

The client reaches the server through a TCP proxy; cutting the proxy drops the connection as a
phone losing its network does. While it is away a vendor in view moves, one enters the view and
one leaves it; the client reconnects (to another ws process where the backends are shared) and
must get ``socket.recovered``, its ``socket.id``, and those three changes, without sending its
viewport again, and then keep following the map. Past the recovery window it gets a fresh
session instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import real_settings
from tests.faults import TcpProxy
from tests.realtime.harness import (
    TIMEOUT,
    Server,
    at,
    box,
    client,
    realtime_settings,
    running,
    subject,
)
from tests.realtime.test_js_client import JS, node  # noqa: F401  (the fixture)
from venta_core.domain import Actor, Location
from venta_core.settings import Settings

BERLIN = box((52.50, 13.38), (52.54, 13.43))
IN_VIEW = (52.52, 13.40)
OUTSIDE = (40.7, -74.0)


class JsUser:
    """One ``socket.io-client`` in a Node process (``/user`` unless told): what it sees, line
    by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, node_bin: str, url: str, token: str, namespace: str = "/user") -> JsUser:
        proc = await asyncio.create_subprocess_exec(
            node_bin,
            str(JS / "recover.mjs"),
            json.dumps({"url": url, "token": token, "namespace": namespace}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.seen.put_nowait(json.loads(line))

    async def next(self, event: str) -> dict[str, Any]:
        """The next ``event`` (others before it are skipped)."""
        while True:
            message = await asyncio.wait_for(self.seen.get(), TIMEOUT)
            if message["event"] == event:
                return message

    async def until(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Events (not connection changes) until ``done(events so far)``."""
        got: list[dict[str, Any]] = []
        while not done(got):
            message = await asyncio.wait_for(self.seen.get(), TIMEOUT)
            if message["event"] not in ("connect", "disconnect", "connect_error"):
                got.append(message)
        return got

    async def emit(self, event: str, data: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"emit": event, "data": data}) + "\n").encode())
        await self.proc.stdin.drain()

    async def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(b'{"close": true}\n')
            await self.proc.stdin.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()


@contextlib.asynccontextmanager
async def proxied(server: Server) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", server.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


class Vendors:
    """Vendors placed through the location service (the way any process's update goes)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.actors: dict[str, Actor] = {}

    async def new(self, name: str) -> str:
        owner = subject()
        vendor_id = await self.server.vendor(owner, name)
        self.actors[vendor_id] = Actor.for_user(await self.server.app.users.ensure_user(owner))
        return vendor_id

    async def put(self, vendor_id: str, lat: float, long: float) -> None:
        await self.server.app.locations.update_vendor_location(
            self.actors[vendor_id], vendor_id, Location(lat=lat, long=long)
        )


async def _drop_and_recover(a: Server, b: Server, node: str) -> None:  # noqa: F811
    """Connected to ``a``, dropped, back on ``b`` (which may be ``a``)."""
    vendors = Vendors(a)
    mover, leaver, comer = [await vendors.new(n) for n in ("Mover", "Leaver", "Comer")]
    await vendors.put(mover, *IN_VIEW)
    await vendors.put(leaver, 52.51, 13.39)
    await vendors.put(comer, *OUTSIDE)
    async with proxied(a) as proxy:
        js = await JsUser.start(node, f"http://127.0.0.1:{proxy.port}", a.token(subject()))
        try:
            first = await js.next("connect")
            assert first["recovered"] is False
            await js.emit("updateUserLocation", BERLIN)
            channels = (await js.next("vendor_channels"))["data"]
            assert {c["id"] for c in channels} == {mover, leaver}

            await proxy.cut()  # the network is gone
            assert (await js.next("disconnect"))["reason"] == "transport close"
            await vendors.put(mover, 52.525, 13.405)
            await vendors.put(comer, 52.53, 13.42)
            await vendors.put(leaver, *OUTSIDE)
            await asyncio.sleep(1.0)
            proxy.target = ("127.0.0.1", b.port)  # back, through another process
            await proxy.restore()

            again = await js.next("connect")
            assert again["recovered"] is True
            assert again["id"] == first["id"]
            changes: dict[str, dict[str, Any]] = {}

            def complete(events: list[dict[str, Any]]) -> bool:
                for message in events:
                    changes[message["data"]["id"]] = message
                return {mover, comer, leaver} <= changes.keys()

            events = await js.until(complete)
            assert all(message["extra"] == 0 for message in events)  # no offset argument
            assert changes[mover]["event"] == "vendor_sync"
            assert at(changes[mover]["data"], 52.525, 13.405)
            assert changes[comer]["event"] == "vendor_sync"
            assert at(changes[comer]["data"], 52.53, 13.42)
            assert changes[leaver] == {"event": "vendor_left", "data": {"id": leaver}, "extra": 0}

            # still watching its viewport, without having sent it again
            await vendors.put(mover, 52.526, 13.406)
            sync = await js.next("vendor_sync")
            while sync["data"]["id"] != mover:
                sync = await js.next("vendor_sync")
            assert at(sync["data"], 52.526, 13.406)
        finally:
            await js.close()


@pytest.fixture
def rt_settings(backend_settings: Settings) -> Settings:
    return realtime_settings(backend_settings, recovery_seconds=30.0)


async def test_a_dropped_client_recovers_its_session(server: Server, node: str) -> None:  # noqa: F811
    await _drop_and_recover(server, server, node)


async def test_it_recovers_on_another_process(postgres_url: str, node: str) -> None:  # noqa: F811
    settings = realtime_settings(real_settings(postgres_url), recovery_seconds=30.0)
    async with running(settings) as a, running(settings) as b:
        await _drop_and_recover(a, b, node)


async def test_past_the_window_it_gets_a_fresh_session(
    backend_settings: Settings,
    node: str,  # noqa: F811
) -> None:
    settings = realtime_settings(backend_settings, recovery_seconds=0.5)
    async with running(settings) as server, proxied(server) as proxy:
        vendors = Vendors(server)
        vendor = await vendors.new("Tacos")
        await vendors.put(vendor, *IN_VIEW)
        js = await JsUser.start(node, f"http://127.0.0.1:{proxy.port}", server.token(subject()))
        try:
            first = await js.next("connect")
            await js.emit("updateUserLocation", BERLIN)
            assert [c["id"] for c in (await js.next("vendor_channels"))["data"]] == [vendor]
            await proxy.cut()
            await js.next("disconnect")
            await asyncio.sleep(1.5)
            await proxy.restore()
            again = await js.next("connect")
            assert again["recovered"] is False
            assert again["id"] != first["id"]
            await js.emit("updateUserLocation", BERLIN)
            assert [c["id"] for c in (await js.next("vendor_channels"))["data"]] == [vendor]
        finally:
            await js.close()


async def test_a_recovered_vendor_stays_online(
    backend_settings: Settings,
    node: str,  # noqa: F811
) -> None:
    """The drop starts the vendor's offline grace period; the recovered connection holds the
    vendor again, so it does not go offline when that period ends."""
    settings = realtime_settings(backend_settings, recovery_seconds=30.0, offline_grace_seconds=2)
    async with running(settings) as server, proxied(server) as proxy:
        owner = subject()
        vendor_id = await server.vendor(owner)
        url = f"http://127.0.0.1:{proxy.port}"
        js = await JsUser.start(node, url, server.token(owner), namespace="/vendor")
        try:
            first = await js.next("connect")
            async with client(server, "/user", server.token(subject())) as user:
                await user.emit("updateUserLocation", BERLIN)
                assert await user.next("vendor_channels") == []
                await js.emit("updateVendorLocation", {"lat": 52.52, "long": 13.40})
                assert (await user.next("vendor_sync"))["id"] == vendor_id

                await proxy.cut()
                await js.next("disconnect")
                await asyncio.sleep(0.5)
                await proxy.restore()
                again = await js.next("connect")
                assert (again["recovered"], again["id"]) == (True, first["id"])
                await user.nothing("vendor_left", 2.5)  # past the grace period: still online
                await js.emit("updateVendorLocation", {"lat": 52.52, "long": 13.41})
                assert at(await user.next("vendor_sync"), 52.52, 13.41)
        finally:
            await js.close()
