"""A deleted user's connections are closed on every ws process, and their still valid token
cannot connect again."""

from __future__ import annotations

import asyncio
import time

import pytest
import socketio

from tests.conftest import real_settings
from tests.realtime.harness import (
    TIMEOUT,
    Server,
    SioClient,
    box,
    client,
    realtime_settings,
    running,
    subject,
)

DELETED = {"code": "UNAUTHENTICATED", "message": "This account was deleted"}


async def closed(c: SioClient, deadline: float = 10.0) -> bool:
    """Whether ``c`` is disconnected by the server within ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while c.connected and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return not c.connected


async def delete(server: Server, external_id: str) -> None:
    user = await server.app.users.find_by_external_id(external_id)
    assert user is not None
    await server.app.users.delete_user(user.id)


async def told_deleted(c: SioClient) -> bool:
    error = await c.next("error", timeout=TIMEOUT * 2)
    return bool(error == {**DELETED, "details": {"reason": "account deleted"}})


async def assert_refused(server: Server, token: str, namespace: str) -> None:
    c = SioClient(namespace)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(server, token)
    assert c.connect_error["code"] == "UNAUTHENTICATED"
    assert c.connect_error["data"] == DELETED
    await c.sio.disconnect()


async def test_deleting_a_user_closes_their_connections(server: Server) -> None:
    owner = subject()
    await server.vendor(owner)
    token = server.token(owner)
    async with (
        client(server, "/user", token) as watcher,
        client(server, "/vendor", token) as device,
        client(server, "/user", server.token(subject())) as bystander,
    ):
        await watcher.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        await watcher.next("vendor_channels")

        await delete(server, owner)

        assert await told_deleted(watcher) and await told_deleted(device)
        assert await closed(watcher) and await closed(device)
        assert bystander.connected
    for namespace in ("/user", "/vendor"):
        await assert_refused(server, token, namespace)
    assert await server.app.users.find_by_external_id(owner) is None


async def test_a_deleted_user_cannot_reconnect_with_a_cached_identity(server: Server) -> None:
    """The first connection put the user in the gateway's identity cache; the deletion
    empties it, so the next connection is refused rather than served from it."""
    owner = subject()
    token = server.token(owner)
    async with client(server, "/user", token):
        pass
    await delete(server, owner)

    end = time.monotonic() + 10
    while time.monotonic() < end:  # until the deletion event has reached the gateway
        c = SioClient("/user")
        try:
            await c.connect(server, token)
        except socketio.exceptions.ConnectionError:
            break
        finally:
            await c.sio.disconnect()
        await asyncio.sleep(0.05)
    await assert_refused(server, token, "/user")
    assert await server.app.users.find_by_external_id(owner) is None


async def test_every_ws_process_closes_the_connections(postgres_url: str) -> None:
    settings = realtime_settings(real_settings(postgres_url))
    async with running(settings) as a, running(settings) as b:
        owner = subject()
        token = b.token(owner)
        async with client(b, "/user", token) as on_b, client(a, "/user", token) as on_a:
            await delete(a, owner)  # deleted through process A: B hears of it on the bus

            assert await told_deleted(on_b) and await told_deleted(on_a)
            assert await closed(on_b) and await closed(on_a)
        await assert_refused(b, token, "/user")
