"""On SQLite, a process's write transactions take turns instead of waiting inside the driver's
busy timeout: many writers that each hold the file's lock across an ``await`` all commit, where
the last of them used to fail with "database is locked" (503) once the wait passed 5 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from venta_core.store.engine import Database
from venta_core.testing import embedded_settings

WRITERS = 14
HOLD_S = 0.45  # together past SQLite's 5 s busy timeout


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(embedded_settings(tmp_path / "writes.db"))
    await db.start()
    async with db.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE marks (n INTEGER PRIMARY KEY)"))
    yield db
    await db.stop()


async def _count(db: Database) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM marks"))).scalar_one())


async def test_writers_holding_the_lock_across_awaits_all_commit(database: Database) -> None:
    async def write(n: int) -> None:
        async with database.begin() as conn:
            await conn.execute(sa.text("INSERT INTO marks (n) VALUES (:n)"), {"n": n})
            await asyncio.sleep(HOLD_S)  # other work inside the transaction

    await asyncio.gather(*(write(n) for n in range(WRITERS)))
    assert await _count(database) == WRITERS


async def test_reads_do_not_wait_for_a_writer(database: Database) -> None:
    writing, done = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        async with database.begin() as conn:
            await conn.execute(sa.text("INSERT INTO marks (n) VALUES (1)"))
            writing.set()
            await done.wait()

    writer = asyncio.create_task(write())
    await writing.wait()
    assert await asyncio.wait_for(_count(database), 2) == 0  # the snapshot before the write
    done.set()
    await writer
    assert await _count(database) == 1


async def test_a_transaction_begun_inside_another_does_not_wait_for_it(
    database: Database,
) -> None:
    async def nested() -> None:
        async with database.begin(), database.begin() as inner:
            await inner.execute(sa.text("INSERT INTO marks (n) VALUES (7)"))

    await asyncio.wait_for(nested(), 10)
    assert await _count(database) == 1
