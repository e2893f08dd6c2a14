"""Pytest fixtures for applications and plugins built on venta.

A pytest plugin loaded only where asked: ``pytest_plugins = ["venta_core.testing"]`` in a test
suite's top-level ``conftest.py``, or ``pytest -p venta_core.testing``. It is deliberately not
registered through a ``pytest11`` entry point, which would load it (and its session fixtures)
into every pytest run of any environment where venta is installed.

PYTEST_DONT_REWRITE: a conftest that imports helpers from here (``embedded_settings``, ...)
imports this module before pytest registers it as a plugin, too late for pytest's assertion
rewriting, which would warn; the module has no assertion to rewrite.

- ``venta_settings``: embedded settings (SQLite file in ``tmp_path``, in-process ports).
- ``venta_app``: a started ``Venta`` on those settings.
- ``venta_http``: an ``httpx.AsyncClient`` talking to the HTTP gateway of ``venta_app``.
- ``venta_token``: ``venta_token("alice")`` -> a development bearer token for subject alice.

Helpers, for suites that build their applications themselves (a plugin's, with its settings):

- ``running_gateway(settings, plugins)``: ``async with`` a started ``Venta`` with ``plugins``
  and an ``httpx.AsyncClient`` talking to its HTTP gateway.
- ``bearer_headers(settings)("alice")`` -> ``{"Authorization": "Bearer <development token>"}``.
- ``serving_in_thread(asgi_app)``: ``with`` an ASGI app (a stand-in for a service a plugin
  calls) served on a free local port from a thread; gives the port.
- ``closed_port()``: a local port nothing listens on (a service that is down).

For suites that also run on real services (as venta's own does):

- ``venta_clean_environment`` (session): hides the developer's own ``VENTA_*`` variables.
- ``venta_sqlite_template`` (session): one migrated SQLite file to copy per test.
- ``venta_postgres_url`` (session): a fresh, migrated PostgreSQL database for this run, made on
  the server named by ``VENTA_TEST_DATABASE_URL`` and dropped afterwards.

Both are migrated with the installed plugins' own migrations too (``schema_migrations``), as
``venta db migrate`` would.
- ``real_service_url(kind)``: the URL of a real service for tests; skips when unset, but fails
  under ``CI=true`` so a CI run cannot pass by skipping.
- ``truncate_all(app)``: empty every table.
- ``database_settings(kind, tmp_path, request)``: embedded settings on a copy of the migrated
  SQLite template (``"sqlite"``) or on the run's PostgreSQL database (``"postgresql"``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from venta_core.contracts import (
    EventBusContract,
    EventStreamContract,
    GeoIndexContract,
    KeyValueContract,
    PresenceContract,
    StreamUnderTest,
)

if TYPE_CHECKING:
    import httpx

    from venta_core.app import Venta
    from venta_core.settings import Settings

__all__ = [
    "bearer_headers",
    "closed_port",
    "database_settings",
    "embedded_settings",
    "real_service_url",
    "running_gateway",
    "serving_in_thread",
    "truncate_all",
]
# The port contract suites (venta_core.contracts), for plugins that provide a port.
__all__ += ["EventBusContract", "EventStreamContract", "GeoIndexContract", "KeyValueContract"]
__all__ += ["PresenceContract", "StreamUnderTest"]

_KINDS = {"database": "PostgreSQL", "redis": "Redis", "nats": "NATS"}


def real_service_url(kind: str) -> str:
    """URL of the real ``kind`` service (database, redis, nats) from ``VENTA_TEST_<KIND>_URL``:
    skips the test when unset, fails it under ``CI=true``."""
    var = f"VENTA_TEST_{kind.upper()}_URL"
    url = os.environ.get(var)
    if url:
        return url
    message = f"{var} is not set: tests against real {_KINDS.get(kind, kind)} cannot run"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI must run them)")
    pytest.skip(message)


def database_settings(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a test on ``kind`` ("sqlite" or "postgresql"), already migrated: a copy of
    ``venta_sqlite_template``, or ``venta_postgres_url`` (skipped/failed like every real
    service when ``VENTA_TEST_DATABASE_URL`` is unset)."""
    import shutil

    if kind == "postgresql":
        url = request.getfixturevalue("venta_postgres_url")
        return embedded_settings(
            tmp_path / "unused.db", database_url=url, database_auto_migrate=False
        )
    if kind != "sqlite":
        raise ValueError(f"unknown database kind {kind!r}")
    db = tmp_path / "venta.db"
    shutil.copyfile(request.getfixturevalue("venta_sqlite_template"), db)
    return embedded_settings(db, database_auto_migrate=False)


async def truncate_all(app: Venta) -> None:
    """Delete every row of every table (children first)."""
    import sqlalchemy as sa

    from venta_core.store.tables import metadata

    async with app.database.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(sa.delete(table))


async def _admin(url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def venta_clean_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("VENTA_") and "_TEST_" not in k}
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def venta_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from venta_core.plugins import schema_migrations
    from venta_core.store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "venta.db"
    settings = embedded_settings(path)
    upgrade(settings, plugins=schema_migrations(settings))
    return path


@pytest.fixture(scope="session")
def venta_postgres_url() -> Iterator[str]:
    from sqlalchemy.engine import make_url

    from venta_core.plugins import schema_migrations
    from venta_core.settings import Settings
    from venta_core.store.migrate import upgrade

    base = real_service_url("database")
    name = f"venta_t{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        settings = Settings(_env_file=None, database_url=url)
        upgrade(settings, plugins=schema_migrations(settings))
        yield url
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


@asynccontextmanager
async def running_gateway(
    settings: Settings, plugins: Sequence[object] = (), *, worker: bool = False, empty: bool = False
) -> AsyncIterator[tuple[Venta, httpx.AsyncClient]]:
    """A started ``Venta`` on ``settings`` with ``plugins`` (and no entry-point plugin), and an
    ``httpx.AsyncClient`` talking to its HTTP gateway in process (``http://venta.test``).
    ``worker``: the event handlers run too; ``empty``: every table is emptied first (a
    PostgreSQL database shared by the run's tests)."""
    from venta_core.app import Venta

    app = Venta(settings, plugins=list(plugins), load_entry_points=False)
    if worker:
        app.enable_worker()
    async with app:
        if empty:
            await truncate_all(app)
        async with _gateway_client(app) as client:
            yield app, client


@asynccontextmanager
async def _gateway_client(app: Venta) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to the HTTP gateway of ``app`` in process."""
    import httpx

    from venta_core.transports.http import create_http_app

    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        yield client


def bearer_headers(settings: Settings) -> Callable[[str], dict[str, str]]:
    """``headers("alice")``: the ``Authorization`` header of a development token for subject
    alice, accepted by an application on ``settings``."""
    from venta_core.ports.identity import DevTokenProvider

    provider = DevTokenProvider(settings.auth)

    def headers(subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {provider.issue(subject)}"}

    return headers


@contextmanager
def serving_in_thread(asgi: Any, name: str = "the stand-in") -> Iterator[int]:
    """Serve ``asgi`` with uvicorn on ``127.0.0.1``, a free port, from a thread of its own, so
    code under test can call it over a real socket whatever its event loop; gives the port.
    ``name`` is what the error says when the server does not start within 10 s."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_port() -> int:
    """A local port nothing listens on (a service that is down)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


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
    async with _gateway_client(venta_app) as client:
        yield client


@pytest.fixture
def venta_token(venta_settings: Settings) -> Callable[..., str]:
    from venta_core.ports.identity import DevTokenProvider

    provider = DevTokenProvider(venta_settings.auth)

    def issue(subject: str, ttl_seconds: int = 600, **claims: Any) -> str:
        return provider.issue(subject, ttl_seconds=ttl_seconds, claims=claims)

    return issue
