"""A deleted user's still valid token answers 401 on a running gateway (the runner's identity
cache included), on the embedded backends and on PostgreSQL + Redis + NATS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from tests.realtime.harness import realtime_settings, running, subject
from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import Settings
from venta_core.transports.http import create_http_app

DELETED = ("UNAUTHENTICATED", "This account was deleted")


@pytest.fixture
def token_for(backend_settings: Settings) -> Callable[[str], str]:
    return DevTokenProvider(backend_settings.auth).issue


def error_of(response: httpx.Response) -> tuple[str, str]:
    error = response.json()["error"]
    return error["code"], error["message"]


async def test_a_deleted_users_token_is_refused(backend_settings: Settings) -> None:
    limits = backend_settings.rate_limit.model_copy(update={"enabled": False})  # it polls
    settings = realtime_settings(backend_settings.model_copy(update={"rate_limit": limits}))
    async with running(settings, roles=("gateway",)) as server:
        owner = subject()
        headers = {"Authorization": f"Bearer {server.token(owner)}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            me = await http.get("/v1/me", headers=headers)  # now in the identity cache
            assert me.status_code == 200, me.text
            await server.app.users.delete_user(me.json()["id"])

            # /v1/me/vendors reads nothing of the caller but their id: it answers from the
            # identity cache until the deletion event, on its way, empties it
            end = time.monotonic() + 10
            while (listed := await http.get("/v1/me/vendors", headers=headers)).status_code == 200:
                assert time.monotonic() < end, "the deleted user is still served"
                await asyncio.sleep(0.05)
            again = await http.get("/v1/me", headers=headers)
            created = await http.post("/v1/vendors", json={"name": "Ghost"}, headers=headers)
            alias = await http.post("/vendor", json={"name": "Ghost"}, headers=headers)

        for refused in (listed, again, created, alias):
            assert refused.status_code == 401, refused.text
            assert error_of(refused) == DELETED
        assert await server.app.users.find_by_external_id(owner) is None


async def test_me_refuses_a_deleted_caller_still_in_the_identity_cache(
    app: Venta, token_for: Callable[[str], str]
) -> None:
    """Before the deletion event reaches the gateway, its identity cache still holds the
    user: ``/v1/me`` reads the row, finds it gone, answers 401 and drops the cached identity."""
    transport = httpx.ASGITransport(app=create_http_app(app))
    headers = {"Authorization": f"Bearer {token_for('cached')}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as http:
        me = await http.get("/v1/me", headers=headers)
        await app.users.delete_user(me.json()["id"])
        again = await http.get("/v1/me", headers=headers)
        listed = await http.get("/v1/me/vendors", headers=headers)

    for refused in (again, listed):
        assert refused.status_code == 401, refused.text
        assert error_of(refused) == DELETED
    assert await app.users.find_by_external_id("cached") is None
