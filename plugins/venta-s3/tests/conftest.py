"""Fixtures: moto's S3 server (one process for the session, a new bucket per test), settings
pointing at it, and a started venta application (with its worker) whose upload store is the
plugin's, on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import Settings, WorkerSettings
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app

from s3_server import AppFactory, MotoServer
from venta_s3 import S3Plugin, S3Settings

pytest_plugins = ["venta_core.testing"]


#: Quick retries, so a redelivered event arrives within a test.
FAST_WORKER = WorkerSettings(
    port=0, concurrency=4, ack_wait_seconds=1.0, max_deliver=5, backoff_seconds=[0.05, 0.1]
)


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer().running() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    return moto.new_bucket()


@pytest.fixture
def s3_settings(moto: MotoServer, bucket: str) -> S3Settings:
    return moto.settings_for(bucket, public_base_url="https://img.example.com")


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path / "venta.db")
    uploads = settings.uploads.model_copy(update={"dir": str(tmp_path / "local-uploads")})
    return settings.model_copy(update={"worker": FAST_WORKER, "uploads": uploads})


@pytest.fixture
def make_app(base_settings: Settings) -> AppFactory:
    """``async with make_app(s3_settings) as (app, client)``: a started application with the
    worker and the S3 plugin, and an HTTP client to its gateway."""

    @asynccontextmanager
    async def build(s3: S3Settings) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
        app = Venta(base_settings, plugins=[S3Plugin(s3)], load_entry_points=False)
        app.enable_worker()
        async with app:
            transport = httpx.ASGITransport(app=create_http_app(app))
            async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
                yield app, c

    return build


@pytest.fixture
def bearer(base_settings: Settings) -> Callable[[str], dict[str, str]]:
    def headers(subject: str) -> dict[str, str]:
        token = DevTokenProvider(base_settings.auth).issue(subject)
        return {"Authorization": f"Bearer {token}"}

    return headers
