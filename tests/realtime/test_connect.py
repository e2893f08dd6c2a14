"""Authentication at connect, the operational endpoints, and the ``serve all`` mount."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
import socketio

from tests.realtime.harness import (
    Server,
    SioClient,
    box,
    client,
    realtime_settings,
    running,
    subject,
)
from venta_core.errors import Unauthenticated
from venta_core.settings import Settings
from venta_core.transports.realtime.auth import expiry_from


@pytest.mark.parametrize("how", ["auth", "header", "query"])
async def test_token_in_auth_header_or_query(server: Server, how: str) -> None:
    async with client(server, "/user", server.token(subject()), how=how) as user:
        assert user.connected
        await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        assert await user.next("vendor_channels") == []


def _expired(settings: Settings) -> str:
    now = int(time.time())
    claims = {"sub": "late", "iss": "venta", "aud": "venta", "iat": now - 900, "exp": now - 600}
    return jwt.encode(claims, settings.auth.dev_secret.get_secret_value(), algorithm="HS256")


def _forged(_: Settings) -> str:
    now = int(time.time())
    claims = {"sub": "mallory", "iss": "venta", "aud": "venta", "iat": now, "exp": now + 600}
    return jwt.encode(claims, "not-the-secret-but-long-enough-for-hs256", algorithm="HS256")


@pytest.mark.parametrize(
    "make_token",
    [lambda _: None, lambda _: "garbage", _forged, _expired],
    ids=["missing", "garbage", "forged", "expired"],
)
async def test_refused_with_unauthenticated(
    server: Server, rt_settings: Settings, make_token: object
) -> None:
    token = make_token(rt_settings)  # type: ignore[operator]
    c = SioClient("/user")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(server, token)
    assert c.connect_error["code"] == "UNAUTHENTICATED"
    assert c.connect_error["data"]["code"] == "UNAUTHENTICATED"
    assert c.connect_error["message"]
    await c.sio.disconnect()


async def test_unknown_namespace_is_refused(server: Server) -> None:
    c = SioClient("/admin")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect(server, server.token(subject()))
    await c.sio.disconnect()


async def _ends_at_expiry(settings: Settings, token_for: Callable[[Server], str]) -> None:
    """Connect with ``token_for(server)``, wait past its exp: the next message ends it."""
    auth = settings.auth.model_copy(update={"leeway_seconds": 0})
    async with running(settings.model_copy(update={"auth": auth})) as server:
        user = SioClient("/user")
        token = token_for(server)
        await user.connect(server, token)
        expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
        await asyncio.sleep(max(0.0, expires - time.time()) + 0.1)
        await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        error = await user.next("error")
        assert error["code"] == "UNAUTHENTICATED"
        for _ in range(50):
            if not user.connected:
                break
            await asyncio.sleep(0.05)
        assert not user.connected
        await user.close()


async def test_token_expiring_during_the_session_ends_it(backend_settings: Settings) -> None:
    # exp is whole seconds: a 2 s token lasts between 1 and 2 s, long enough to connect on a
    # loaded machine; then wait until it has certainly expired.
    await _ends_at_expiry(
        realtime_settings(backend_settings), lambda server: server.token(subject(), ttl=2)
    )


def _token_with_string_exp(settings: Settings, seconds: int) -> str:
    now = int(time.time())
    claims = {"sub": subject(), "iss": "venta", "aud": "venta", "iat": now}
    claims["exp"] = str(now + seconds)  # a string of digits: JWT libraries accept it
    return jwt.encode(claims, settings.auth.dev_secret.get_secret_value(), algorithm="HS256")


async def test_a_token_with_exp_as_a_numeric_string_ends_the_session_too(
    backend_settings: Settings,
) -> None:
    settings = realtime_settings(backend_settings)
    await _ends_at_expiry(settings, lambda _: _token_with_string_exp(settings, 2))


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, None),
        ({"exp": 1700000000}, 1700000000.0),
        ({"exp": 1700000000.5}, 1700000000.5),
        ({"exp": "1700000000"}, 1700000000.0),
        ({"exp": " 1700000000 "}, 1700000000.0),
    ],
)
def test_expiry_from_numbers_and_numeric_strings(
    claims: dict[str, object], expected: float
) -> None:
    assert expiry_from(claims) == expected


@pytest.mark.parametrize("exp", ["soon", "", "nan", "inf", True, [1], {"at": 1}])
def test_an_exp_that_is_no_time_refuses_the_token(exp: object) -> None:
    with pytest.raises(Unauthenticated):
        expiry_from({"exp": exp})


async def test_operations_endpoints(server: Server) -> None:
    async with client(server, "/user", server.token(subject())) as user:
        await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        await user.next("vendor_channels")
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            ready = await http.get("/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            metrics = (await http.get("/metrics")).text
    assert 'venta_ws_connected{namespace="/user"} 1.0' in metrics
    assert 'venta_ws_messages_in_total{event="updateUserLocation",namespace="/user"}' in metrics
    assert "venta_ws_fanout_latency_seconds_bucket" in metrics
    assert "venta_ws_rate_limited_total" in metrics


async def test_serve_all_serves_socketio_on_the_http_port(backend_settings: Settings) -> None:
    settings = realtime_settings(backend_settings)
    async with running(settings, roles=("gateway", "ws")) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            me = await http.get("/v1/me", headers={"Authorization": f"Bearer {srv.token('al')}"})
            assert me.status_code == 200
            metrics = (await http.get("/metrics")).text
            assert "venta_http_requests_total" in metrics and "venta_ws_connected" in metrics
        async with client(srv, "/user", srv.token(subject())) as user:
            await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
            assert await user.next("vendor_channels") == []
