from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.realtime.harness import Server, realtime_settings, running
from venta_core.settings import Settings


@pytest.fixture
def rt_settings(backend_settings: Settings) -> Settings:
    return realtime_settings(backend_settings, vendor_messages_per_minute=1000)


@pytest.fixture
async def server(rt_settings: Settings) -> AsyncIterator[Server]:
    async with running(rt_settings) as srv:
        yield srv
