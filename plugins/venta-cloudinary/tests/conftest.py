"""Fixtures: a local stand-in of Cloudinary's upload API, settings pointing at it, and a
started venta application (with its worker) whose upload store is the plugin's, on SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.settings import Settings, WorkerSettings
from venta_core.testing import bearer_headers, embedded_settings, running_gateway

from cloudinary_stub import AppFactory, CloudinaryStub
from venta_cloudinary import CloudinaryPlugin, CloudinarySettings

pytest_plugins = ["venta_core.testing"]


#: Quick retries, so a redelivered event arrives within a test.
FAST_WORKER = WorkerSettings(
    port=0, concurrency=4, ack_wait_seconds=1.0, max_deliver=5, backoff_seconds=[0.05, 0.1]
)


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(venta_clean_environment: None) -> None:
    """The developer's own VENTA_* variables must not change what the tests see."""


@pytest.fixture
def stub() -> Iterator[CloudinaryStub]:
    with CloudinaryStub().running() as server:
        yield server


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path / "venta.db")
    uploads = settings.uploads.model_copy(update={"dir": str(tmp_path / "local-uploads")})
    return settings.model_copy(update={"worker": FAST_WORKER, "uploads": uploads})


@pytest.fixture
def make_app(base_settings: Settings) -> AppFactory:
    """``async with make_app(cloudinary_settings) as (app, client)``: a started application
    with the worker and the Cloudinary plugin, and an HTTP client to its gateway."""

    def build(
        settings: CloudinarySettings,
    ) -> AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]:
        return running_gateway(base_settings, [CloudinaryPlugin(settings)], worker=True)

    return build


@pytest.fixture
def bearer(base_settings: Settings) -> Callable[[str], dict[str, str]]:
    return bearer_headers(base_settings)
