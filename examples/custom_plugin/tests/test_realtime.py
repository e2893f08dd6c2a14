"""The plugin on the real-time gateway, over a real Socket.IO client: ``favourite_vendor`` on
``/user`` (validated, rate limited and answered like venta's own events), and the presence log
of vendors going online and offline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from venta_core import serve
from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.settings import Settings

from venta_favourites import FavouritesPlugin

TIMEOUT = 5.0


@pytest.fixture
async def ws(settings: Settings, plugin: FavouritesPlugin) -> AsyncIterator[tuple[Venta, str]]:
    """The ``ws`` role of an application holding the plugin, on a free port: (app, URL)."""
    realtime = settings.realtime.model_copy(
        update={
            "host": "127.0.0.1",
            "port": 0,
            "offline_grace_seconds": 0.2,
            "presence_sweep_seconds": 0.1,
            "user_messages_per_minute": 5,
        }
    )
    app = Venta(
        settings.model_copy(update={"realtime": realtime}),
        plugins=[plugin],
        load_entry_points=False,
    )
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, ["ws"], stop=stop, on_ready=ready.set_result))
    await asyncio.wait([task, ready], timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield app, f"http://127.0.0.1:{ready.result()['ws']}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def connect(
    url: str, namespace: str, token: str
) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    """A client on ``namespace``; the queue receives its ``error`` events."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()

    async def on_event(event: str, *args: Any) -> None:
        if event == "error":
            errors.put_nowait(args[0])

    sio.on("*", on_event, namespace=namespace)
    await sio.connect(
        url,
        namespaces=[namespace],
        auth={"token": token},
        transports=["websocket"],
        wait_timeout=TIMEOUT,
    )
    return sio, errors


async def vendor_of(app: Venta, owner: str, name: str) -> str:
    user = await app.users.ensure_user(owner)
    return (await app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name=name))).id


async def test_favourite_vendor_from_the_map(ws, venta_token, plugin):
    app, url = ws
    tacos = await vendor_of(app, "owner", "Tacos")
    sio, errors = await connect(url, "/user", venta_token("bob"))
    try:
        marked = await sio.call("favourite_vendor", {"vendorId": tacos}, namespace="/user")
        bob = (await app.users.ensure_user("bob")).id
        stored = await plugin.store.of_user(bob)
        await sio.emit(
            "favourite_vendor", {"vendorId": tacos, "favourite": "yes"}, namespace="/user"
        )
        invalid = await asyncio.wait_for(errors.get(), TIMEOUT)
        unknown_id = "3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44"
        await sio.emit("favourite_vendor", {"vendorId": unknown_id}, namespace="/user")
        unknown = await asyncio.wait_for(errors.get(), TIMEOUT)
        unmarked = await sio.call(
            "favourite_vendor", {"vendorId": tacos, "favourite": False}, namespace="/user"
        )
        for _ in range(2):  # the 5th message of the minute, then the 6th: one too many
            await sio.emit("favourite_vendor", {"vendorId": tacos}, namespace="/user")
        limited = await asyncio.wait_for(errors.get(), TIMEOUT)
    finally:
        await sio.disconnect()

    assert marked == {"vendorIds": [tacos]} and stored == [tacos]
    assert invalid["code"] == "VALIDATION_ERROR" and "favourite" in invalid["message"]
    assert unknown["code"] == "VENDOR_NOT_FOUND"
    assert unmarked == {"vendorIds": []}
    assert limited["code"] == "RATE_LIMITED"


async def test_vendors_going_online_and_offline_are_counted(ws, venta_token, plugin):
    app, url = ws
    tacos = await vendor_of(app, "owner", "Tacos")
    sio, _ = await connect(url, "/vendor", venta_token("owner"))
    try:
        await sio.emit(
            "updateVendorLocation",
            {"vendorId": tacos, "lat": 52.5, "long": 13.4},
            namespace="/vendor",
        )
        await _until(lambda: tacos in plugin.presence.online)
    finally:
        await sio.disconnect()
    await _until(lambda: tacos not in plugin.presence.online)  # after the grace period

    assert plugin.presence.changes == 2


async def _until(condition: Any) -> None:
    for _ in range(int(TIMEOUT / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")
