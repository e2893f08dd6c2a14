"""Pytest fixtures for applications and plugins built on venta (registered as a pytest plugin).

- ``venta_settings``: embedded settings (SQLite file in ``tmp_path``, in-process ports).
- ``venta_app``: a started ``Venta`` on those settings.
- ``venta_http``: an ``httpx.AsyncClient`` talking to the HTTP gateway of ``venta_app``.
- ``venta_token``: ``venta_token("alice")`` -> a development bearer token for subject alice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from venta_core.app import Venta
    from venta_core.settings import Settings

__all__ = ["embedded_settings"]


def embedded_settings(db_path: Path, **overrides: Any) -> Settings:
    """Settings for a self-contained app: its own SQLite file, in-process ports, no .env."""
    from venta_core.settings import Settings

    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{db_path}",
        "redis_url": None,
        "nats_url": None,
        "database_auto_migrate": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def venta_settings(tmp_path: Path) -> Settings:
    return embedded_settings(tmp_path / "venta.db")


@pytest.fixture
async def venta_app(venta_settings: Settings) -> AsyncIterator[Venta]:
    from venta_core.app import Venta

    async with Venta(venta_settings, load_entry_points=False) as app:
        yield app


@pytest.fixture
async def venta_http(venta_app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    from venta_core.transports.http import create_http_app

    transport = httpx.ASGITransport(app=create_http_app(venta_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        yield client


@pytest.fixture
def venta_token(venta_settings: Settings) -> Callable[..., str]:
    from venta_core.ports.identity import DevTokenProvider

    provider = DevTokenProvider(venta_settings.auth)

    def issue(subject: str, ttl_seconds: int = 600, **claims: Any) -> str:
        return provider.issue(subject, ttl_seconds=ttl_seconds, claims=claims)

    return issue
