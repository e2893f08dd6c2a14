"""Fixtures of the end-to-end tests: a fresh PostgreSQL database, unique Redis/NATS names, and
processes that are always stopped, with their output printed when the test failed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.backends import RUN_PREFIX, real_service_url
from tests.e2e.processes import VentaProcess


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database (schema not applied), dropped afterwards."""
    base = real_service_url("database")
    name = f"venta_e2e_{RUN_PREFIX}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A Redis key / NATS subject prefix of this test only; its Redis keys are deleted after."""
    prefix = f"{RUN_PREFIX}e2e{uuid.uuid4().hex[:4]}"
    redis_url = real_service_url("redis")
    yield prefix
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[VentaProcess]]:
    """Register started processes here: each is stopped at teardown, and when the test failed
    the output of every one of them is printed."""
    started: list[VentaProcess] = []
    yield started
    for process in started:
        process.stop()
    if request.node.stash.get(FAILED, False):
        for process in started:
            print(f"\n===== output of {process.name} ({process.log}) =====\n{process.output()}")
