"""Two gateways of one started ``Venta``: one as built, one with a fast-path layer turned off.

The fast paths (``PositionFastPath``, ``ReadFastPath``) must answer what the FastAPI routes
answer; each test sends the same request to both gateways and compares the answers, and
records which requests the layer passed on.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from venta_core.app import Venta
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


class Gateways:
    def __init__(
        self, app: Venta, fast_api: FastAPI, fast: httpx.AsyncClient, plain: httpx.AsyncClient
    ) -> None:
        self.app = app
        self.fast_api = fast_api
        self.fast = fast
        self.plain = plain

    def auth(self, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.app.identity.issue(subject)}"}  # type: ignore[attr-defined]

    async def both(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None = None
    ) -> tuple[httpx.Response, httpx.Response]:
        """The same request to the gateway with the layer, then to the one without."""
        sent = {"X-Request-ID": "same-request", **headers}
        fast = await self.fast.request(method, path, content=content, headers=sent)
        plain = await self.plain.request(method, path, content=content, headers=sent)
        return fast, plain


@asynccontextmanager
async def gateways_of(tmp_path: Path, layer: type, **off: None) -> AsyncIterator[Gateways]:
    """The pair; the plain gateway builds ``layer`` with the keyword arguments ``off`` (the
    routes it serves set to ``None``: the layer passes everything on)."""
    limits = {"per_ip": 10**6, "per_identity": 10**6}
    settings = embedded_settings(tmp_path / "t.db", rate_limit=limits)
    async with Venta(settings, load_entry_points=False) as app:
        fast_api = create_http_app(app)
        plain_api = create_http_app(app)
        for middleware in plain_api.user_middleware:
            if middleware.cls is layer:
                middleware.kwargs.update(off)
        base = "http://venta.test"
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_api), base_url=base) as fast,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=plain_api), base_url=base) as plain,
        ):
            await fast.get("/health")  # builds the middleware stacks
            await plain.get("/health")
            yield Gateways(app, fast_api, fast, plain)


def passed_on(api: FastAPI, layer: type) -> list[str]:
    """From now on, the paths of the requests ``layer`` of ``api`` passes on."""
    found: Any = api.middleware_stack
    while not isinstance(found, layer):
        found = found.app
    inner = found.app
    paths: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await inner(scope, receive, send)

    found.app = recording
    return paths


def comparable(
    response: httpx.Response, times: tuple[str, ...] = ()
) -> tuple[int, Any, str | None, str | None]:
    """Status, body, content type and ``WWW-Authenticate``; the ``times`` keys of the body's
    objects checked for their form and left out (times the two gateways set at different
    moments, as an update's)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    for item in _objects(body):
        for key in times:
            if key in item:
                assert RFC3339_UTC.fullmatch(item.pop(key)), response.text
    headers = response.headers
    return response.status_code, body, headers.get("content-type"), headers.get("www-authenticate")


def _objects(body: Any) -> list[dict[str, Any]]:
    """The JSON objects of ``body``, nested ones included."""
    if isinstance(body, dict):
        return [body, *(o for value in body.values() for o in _objects(value))]
    if isinstance(body, list):
        return [o for value in body for o in _objects(value)]
    return []
