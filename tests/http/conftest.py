from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.http.http_fakes import FakeVenta, make_settings
from venta_core.settings import Settings
from venta_core.transports.http import create_http_app

Headers = dict[str, str]


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def venta(settings: Settings) -> FakeVenta:
    return FakeVenta(settings)


@pytest.fixture
def api(venta: FakeVenta) -> FastAPI:
    return create_http_app(venta)


@pytest.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        yield client


@pytest.fixture
def token_for(venta: FakeVenta) -> Callable[..., str]:
    def issue(subject: str, **kwargs: Any) -> str:
        return venta.identity.issue(subject, **kwargs)

    return issue


@pytest.fixture
def alice(token_for: Callable[..., str]) -> Headers:
    return {"Authorization": f"Bearer {token_for('user_alice')}"}


@pytest.fixture
def bob(token_for: Callable[..., str]) -> Headers:
    return {"Authorization": f"Bearer {token_for('user_bob')}"}


@pytest.fixture
def create_vendor(client: httpx.AsyncClient) -> Callable[..., Any]:
    async def create(headers: Headers, **fields: Any) -> str:
        body = {"name": "Taco Truck", **fields}
        response = await client.post("/v1/vendors", json=body, headers=headers)
        assert response.status_code == 201, response.text
        vendor_id: str = response.json()["id"]
        return vendor_id

    return create
