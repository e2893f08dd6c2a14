"""Fixtures of the worker tests: started applications running the worker, on the embedded
backends and on PostgreSQL + Redis + JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.events.helpers import delete_streams, empty_tables, fast
from venta_core.app import Venta
from venta_core.settings import Settings

StartApp = Callable[..., Awaitable[Venta]]


@pytest.fixture
async def start_app(backend_settings: Settings) -> AsyncIterator[StartApp]:
    """``await start_app(plugins=[...], worker=True, **settings_overrides)`` -> a started app
    (quick worker timings); stopped and its streams removed after the test."""
    async with AsyncExitStack() as stack:

        async def start(plugins: Any = (), worker: bool = True, **overrides: Any) -> Venta:
            settings = fast(backend_settings).model_copy(update=overrides)
            app = Venta(settings, plugins=plugins, load_entry_points=False)
            if not settings.is_sqlite:
                await app.database.start()
                await empty_tables(app)
            if worker:
                app.enable_worker()
            stack.push_async_callback(delete_streams, settings)
            await stack.enter_async_context(app)
            return app

        yield start
