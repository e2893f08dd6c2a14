from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.http_fakes import FakeVenta, make_settings
from venta_core.transports.http import create_http_app

Headers = dict[str, str]
ClientFactory = Callable[..., Any]


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def make_client(upload_dir: Path) -> ClientFactory:
    """``async with make_client(uploads={...}, plugins=[...]) as (venta, client)``."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def build(
        *, plugins: list[object] | None = None, **overrides: Any
    ) -> AsyncIterator[tuple[FakeVenta, httpx.AsyncClient]]:
        uploads = {"dir": str(upload_dir), **overrides.pop("uploads", {})}
        http = {
            "max_body_bytes": 16 * 1024 * 1024,
            "public_url": "http://venta.test",
            **overrides.pop("http", {}),
        }
        venta = FakeVenta(
            make_settings(uploads=uploads, http=http, **overrides), plugins=plugins or []
        )
        transport = httpx.ASGITransport(app=create_http_app(venta), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
            yield venta, client

    return build


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as (_, c):
        yield c


@pytest.fixture
def alice() -> Headers:
    from venta_core.ports.identity import DevTokenProvider

    token = DevTokenProvider(make_settings().auth).issue("user_alice")
    return {"Authorization": f"Bearer {token}"}


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
