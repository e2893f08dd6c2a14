"""Fixtures: a local Algolia stub, settings pointing at it, and a started venta application
(with its worker) whose search index is the Algolia plugin's, on SQLite."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from venta_core.app import Venta
from venta_core.ports.kv_memory import MemoryKeyValue
from venta_core.settings import Settings, WorkerSettings
from venta_core.testing import bearer_headers, embedded_settings, running_gateway

from algolia_stub import AlgoliaStub
from venta_algolia import AlgoliaPlugin, AlgoliaSearchIndex, AlgoliaSettings

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]

#: Quick retries, so a redelivered event arrives within a test.
FAST_WORKER = WorkerSettings(
    port=0, concurrency=4, ack_wait_seconds=1.0, max_deliver=5, backoff_seconds=[0.05, 0.1]
)


#: venta's fixtures for test suites (docs/plugins.md).
pytest_plugins = ["venta_core.testing"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("VENTA_") and "_TEST_" not in k}
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture
def stub() -> Iterator[AlgoliaStub]:
    with AlgoliaStub().running() as server:
        yield server


@pytest.fixture
def algolia_settings(stub: AlgoliaStub) -> AlgoliaSettings:
    return stub.settings_for()


@pytest.fixture
async def index(algolia_settings: AlgoliaSettings) -> AsyncIterator[AlgoliaSearchIndex]:
    kv = MemoryKeyValue()
    await kv.start()
    search = AlgoliaSearchIndex(algolia_settings, kv=kv)
    await search.start()
    try:
        yield search
    finally:
        await search.stop()
        await kv.stop()


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path / "venta.db")
    return settings.model_copy(update={"worker": FAST_WORKER})


@pytest.fixture
def make_app(base_settings: Settings) -> AppFactory:
    """``async with make_app(algolia_settings) as (app, client)``: a started application with
    the worker and the Algolia plugin, and an HTTP client to its gateway."""

    def build(
        algolia: AlgoliaSettings | None,
    ) -> AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]:
        plugins = [AlgoliaPlugin(algolia)] if algolia is not None else []
        return running_gateway(base_settings, plugins, worker=True)

    return build


@pytest.fixture
def bearer(base_settings: Settings) -> Callable[[str], dict[str, str]]:
    return bearer_headers(base_settings)
