"""The helpers of ``venta_core.testing`` for suites that build their applications themselves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send
from venta_favourites import FavouritesPlugin

from venta_core.testing import (
    bearer_headers,
    closed_port,
    embedded_settings,
    running_gateway,
    serving_in_thread,
)


async def test_running_gateway_serves_a_plugins_routes_to_a_bearer(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "venta.db")
    alice = bearer_headers(settings)("alice")

    async with running_gateway(settings, [FavouritesPlugin()]) as (app, client):
        mine = await client.get("/v1/favourites", headers=alice)
        anonymous = await client.get("/v1/favourites")
        running = app.worker is not None

    assert mine.status_code == 200, mine.text
    assert anonymous.status_code == 401
    assert not running


async def test_running_gateway_can_run_the_worker_on_emptied_tables(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "venta.db")
    alice = bearer_headers(settings)("alice")
    async with running_gateway(settings) as (_, client):
        await client.post("/v1/vendors", json={"name": "Cart"}, headers=alice)

    async with running_gateway(settings, worker=True, empty=True) as (app, client):
        listed = await client.get("/v1/me/vendors", headers=alice)
        running = app.worker is not None

    assert listed.status_code == 200 and listed.json() == [], listed.text
    assert running


def test_serving_in_thread_answers_on_its_port_until_the_block_ends() -> None:
    async def hello(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    with serving_in_thread(hello) as port:
        answer = httpx.get(f"http://127.0.0.1:{port}/")

    assert answer.status_code == 200 and answer.text == "hello"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_nothing_listens_on_a_closed_port() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{closed_port()}/", timeout=2)
