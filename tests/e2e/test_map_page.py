"""The live map page in a real browser against a real `venta serve all`: one element per vendor
in view, a marker that follows its vendor, and one that goes when its vendor leaves the view.
And ``/map`` is only served where it should be."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.cli.demo_server import serve_all
from tests.e2e.browser import chromium, chromium_path
from tests.e2e.processes import free_port, wait_until
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings, Settings
from venta_core.testing import embedded_settings
from venta_core.transports.http.routers.map_page import create_router as map_router
from venta_core.transports.realtime.protocol import UserLocationMessage

CENTER = (52.5200, 13.4050)
IN_VIEW = [(52.5210, 13.4060), (52.5190, 13.4100)]
FAR = (48.8566, 2.3522)
MARKERS = "[...document.querySelectorAll('[data-vendor-id]')].map(e => e.dataset.vendorId).sort()"


def _artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``test-artifacts/`` of the checkout under CI (collected there,
    ignored by git), else the test's temporary directory."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return Path(__file__).resolve().parents[2] / "test-artifacts"
    return tmp_path


def _token(subject: str) -> str:
    return DevTokenProvider(AuthSettings()).issue(subject, ttl_seconds=600)


def _vendor(api: httpx.Client, owner: str, name: str, at: tuple[float, float]) -> str:
    auth = {"Authorization": f"Bearer {owner}"}
    created = api.post("/v1/vendors", json={"name": name, "open": True}, headers=auth)
    assert created.status_code == 201, created.text
    vendor_id = str(created.json()["id"])
    _move(api, owner, vendor_id, at)
    return vendor_id


def _move(api: httpx.Client, owner: str, vendor_id: str, at: tuple[float, float]) -> None:
    body = {"lat": at[0], "long": at[1]}
    answer = api.put(
        f"/v1/vendors/{vendor_id}/location",
        json=body,
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert answer.status_code in (200, 204), answer.text


def _marker(vendor_id: str, attribute: str) -> str:
    return f"document.querySelector('[data-vendor-id=\"{vendor_id}\"]')?.dataset.{attribute}"


def test_the_map_follows_vendors_in_view(tmp_path: Path) -> None:
    chromium_path()  # skip (or, under CI, fail) before starting anything
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    owner = _token("map-test-owner")
    with serve_all(tmp_path, port), httpx.Client(base_url=base, timeout=10) as api:
        near = [_vendor(api, owner, f"Truck {i}", at) for i, at in enumerate(IN_VIEW)]
        far = _vendor(api, owner, "Far away", FAR)
        query = {
            "token": _token("map-test-watcher"),
            "lat": CENTER[0],
            "long": CENTER[1],
            "zoom": 15,
            "tiles": 0,  # no network in tests: markers on the plain background
        }
        with chromium() as page:
            page.goto(f"{base}/map?{urlencode(query)}")
            shown = page.wait_for(
                f"(m => m.length === 2 && m)({MARKERS})", "a marker per vendor in view"
            )
            assert shown == sorted(near)
            assert far not in shown
            moving = near[0]
            assert page.evaluate(_marker(moving, "open")) in ("true", None)  # pins optional

            _move(api, owner, moving, (52.5215, 13.4070))
            page.wait_for(f"{_marker(moving, 'lat')} === '52.5215'", "the marker to move")
            assert page.evaluate(_marker(moving, "long")) == "13.407"
            left = page.evaluate(
                f"parseFloat(document.querySelector('[data-vendor-id=\"{moving}\"]').style.left)"
            )
            assert 0 < left < 1024  # drawn inside the map

            _move(api, owner, moving, FAR)
            page.wait_for(f"!document.querySelector('[data-vendor-id=\"{moving}\"]')", "it to go")
            assert page.evaluate(MARKERS) == [near[1]]

            # Panning sends the new viewport: dragged east out of view, then back into it.
            page.drag((200, 400), (900, 400))
            page.wait_for(f"{MARKERS}.length === 0", "the pan to leave the vendor behind")
            assert float(page.evaluate("new URL(location.href).searchParams.get('long')")) < 13.4
            page.drag((900, 400), (200, 400))
            page.wait_for(f"{MARKERS}.length === 1", "the vendor back in view")
            assert page.evaluate(MARKERS) == [near[1]]

            # A tap on a marker shows its card (the name once the server sends pin fields).
            box = page.evaluate(
                f"(r => [r.x + r.width / 2, r.y + r.height / 2])(document.querySelector("
                f"'[data-vendor-id=\"{near[1]}\"]').getBoundingClientRect())"
            )
            page.click(*box)
            card = page.wait_for(
                "(c => !c.hidden && c.dataset.vendorId)(document.getElementById('card'))",
                "the vendor's card",
            )
            assert card == near[1]
            title = page.evaluate("document.querySelector('#card strong').textContent")
            assert title in ("Truck 1", near[1])
            shot = page.screenshot(_artifacts(tmp_path) / "map-page.png")
            print(f"screenshot: {shot}")
            assert shot.stat().st_size > 0


@pytest.fixture(
    params=[
        ({}, 200),
        ({"env": "production", "auth": {"dev_tokens": False}}, 404),
        ({"env": "production", "auth": {"dev_tokens": False}, "http": {"map_page": True}}, 200),
        ({"http": {"map_page": False}}, 404),
    ],
    ids=["development", "production", "production-enabled", "disabled"],
)
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], int]:
    overrides, status = request.param
    return overrides, status


@pytest.fixture
def venta_settings(tmp_path: Path, case: tuple[dict[str, Any], int]) -> Settings:
    return embedded_settings(tmp_path / "venta.db", **case[0])


async def test_the_map_is_served_only_where_enabled(
    venta_http: httpx.AsyncClient, case: tuple[dict[str, Any], int]
) -> None:
    _, status = case
    page = await venta_http.get("/map")
    assert page.status_code == status
    script = await venta_http.get("/map/assets/map.js")
    assert script.status_code == status
    if status == 200:
        assert page.headers["content-type"].startswith("text/html")
        assert 'src="map/assets/map.js"' in page.text  # relative: works under a mount prefix
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await venta_http.get("/map/assets/nope.js")).status_code == 404
    else:
        assert json.loads(page.text)["error"]["code"] == "NOT_FOUND"


class FakeGateway:
    """The page's own files and a python-socketio server answering ``/user`` with what the
    contract allows but the test wants to choose: pin fields and ``vendor_clusters``."""

    def __init__(self, port: int) -> None:
        import socketio
        import uvicorn
        from fastapi import FastAPI

        self.auth: list[Any] = []
        self.views: list[Any] = []
        self.sio = socketio.AsyncServer(async_mode="asgi", namespaces=["/user"])
        self.sio.on("connect", self._connect, namespace="/user")
        self.sio.on("updateUserLocation", self._view, namespace="/user")
        api = FastAPI()
        api.include_router(map_router(embedded_settings(Path("unused.db"))))
        app = socketio.ASGIApp(self.sio, other_asgi_app=api)
        self.server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),))

    async def _serve(self) -> None:
        await self.server.serve()
        await self.sio.shutdown()
        leftover = asyncio.all_tasks() - {asyncio.current_task()}  # engine.io's ping tasks
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)

    async def _connect(self, sid: str, environ: Any, auth: Any) -> None:
        self.auth.append(auth)

    async def _view(self, sid: str, data: Any) -> None:
        self.views.append(data)
        await self.sio.emit("vendor_channels", [PIN], to=sid, namespace="/user")

    def emit(self, event: str, data: Any) -> None:
        coro = self.sio.emit(event, data, namespace="/user")
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def disconnect_all(self) -> None:
        async def disconnect() -> None:
            for sid, _ in list(self.sio.manager.get_participants("/user", None)):
                await self.sio.disconnect(sid, namespace="/user")

        asyncio.run_coroutine_threadsafe(disconnect(), self.loop).result(10)

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        wait_until("the fake gateway", lambda: self.server.started, 30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.loop.close()


PIN = {
    "id": "7d3f6a52-0000-4000-8000-000000000001",
    "location": {"lat": 52.5205, "long": 13.4055},
    "name": "Curry 36",
    "open": False,
    "primaryImage": "https://images.example/curry.jpg",
    "updatedAt": "2026-01-01T12:00:00Z",
}
CLUSTER = {"cell": "u33db", "count": 12, "location": {"lat": 52.52, "long": 13.40}}


def test_the_map_draws_pin_fields_and_clusters() -> None:
    """Against a stand-in gateway: the CONNECT auth carries the token, the viewport is a valid
    ``updateUserLocation``, pin fields show (closed, named), clusters replace the pins."""
    chromium_path()
    port = free_port()
    with FakeGateway(port) as gateway, chromium() as page:
        page.goto(
            f"http://127.0.0.1:{port}/map?token=tok-123&lat=52.52&long=13.405&zoom=15&tiles=0"
        )
        marker = f"document.querySelector('[data-vendor-id=\"{PIN['id']}\"]')"
        page.wait_for(f"!!{marker}", "the pin")
        assert gateway.auth == [{"token": "tok-123"}]
        box = UserLocationMessage.model_validate(gateway.views[0]).box()
        assert box.sw.lat < 52.52 < box.ne.lat and box.sw.long < 13.405 < box.ne.long
        assert page.evaluate(f"{marker}.dataset.open") == "false"
        assert page.evaluate(f"{marker}.classList.contains('closed')") is True
        assert page.evaluate(f"{marker}.title") == "Curry 36 (closed)"

        gateway.emit("vendor_clusters", [CLUSTER])
        cluster = "document.querySelector('[data-cluster-cell=\"u33db\"]')"
        page.wait_for(f"!!{cluster}", "the cluster")
        assert page.evaluate(f"{cluster}.textContent") == "12"
        assert page.evaluate(f"!{marker}") is True  # clusters replace the pins

        gateway.emit("vendor_sync", PIN)  # entering the view: the full pin
        page.wait_for(f"!!{marker}", "the pin back")
        gateway.emit("vendor_sync", {"id": PIN["id"], "location": {"lat": 52.521, "long": 13.406}})
        page.wait_for(f"{marker}.dataset.lat === '52.521'", "the move")
        assert page.evaluate(f"{marker}.title") == "Curry 36 (closed)"  # a move keeps the pin


def test_the_map_zooms_on_the_wheel_and_reconnects() -> None:
    """A wheel notch zooms in one level and sends the smaller viewport; when the server ends
    the connection the page connects again and sends its viewport anew."""
    chromium_path()
    port = free_port()
    with FakeGateway(port) as gateway, chromium() as page:
        page.goto(f"http://127.0.0.1:{port}/map?token=tok-9&lat=52.52&long=13.405&zoom=15&tiles=0")
        wait_until("the first viewport", lambda: len(gateway.views) == 1, 20)
        first = UserLocationMessage.model_validate(gateway.views[0]).box()

        page.call(
            "Input.dispatchMouseEvent", type="mouseWheel", x=500, y=400, deltaX=0, deltaY=-100
        )
        wait_until("the zoomed viewport", lambda: len(gateway.views) == 2, 20)
        zoomed = UserLocationMessage.model_validate(gateway.views[1]).box()
        assert page.evaluate("new URL(location.href).searchParams.get('zoom')") == "16"
        width = zoomed.ne.long - zoomed.sw.long
        assert abs(width / (first.ne.long - first.sw.long) - 0.5) < 0.01

        gateway.disconnect_all()
        wait_until("a new connection", lambda: len(gateway.auth) == 2, 20)
        wait_until("the viewport again", lambda: len(gateway.views) == 3, 20)
        assert gateway.auth[1] == {"token": "tok-9"}
        again = UserLocationMessage.model_validate(gateway.views[2]).box()
        assert again == zoomed
