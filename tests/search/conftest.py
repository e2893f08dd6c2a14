"""Fixtures of the search tests: a started application (no worker unless asked) on the
embedded backends and on PostgreSQL + Redis + NATS, with empty tables and index."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.events.helpers import delete_streams, empty_tables, fast
from venta_core.app import Venta
from venta_core.settings import Settings


@pytest.fixture
def worker() -> bool:
    """Whether the application runs the worker (override in a module to turn it on)."""
    return False


@pytest.fixture
async def app(backend_settings: Settings, worker: bool) -> AsyncIterator[Venta]:
    settings = fast(backend_settings)
    application = Venta(settings, load_entry_points=False)
    if not settings.is_sqlite:
        await application.database.start()
        await empty_tables(application)
    if worker:
        application.enable_worker()
    try:
        async with application:
            yield application
    finally:
        await delete_streams(settings)
