"""The database component: one async engine per process, SQLite or PostgreSQL.

Every connection and transaction the store opens (``Database.connect`` / ``begin``) runs under
the database's ``Dependency`` (``venta_core.outages``): a database that cannot be reached raises
``ServiceUnavailable`` (503) instead of a driver error, and its outage is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from venta_core.observability.client_metrics import CLIENT_METRICS
from venta_core.observability.tracing import instrument_sqlalchemy
from venta_core.outages import Dependency
from venta_core.settings import Settings

__all__ = ["Database", "database_unavailable", "redact_url", "statement_unavailable"]

log = logging.getLogger(__name__)

#: Seconds allowed to open a PostgreSQL connection (asyncpg waits 60 by default): an unreachable
#: server answers 503 after this rather than holding the request for a minute.
CONNECT_TIMEOUT_S = 5.0
#: PostgreSQL error classes that mean "cannot serve now": connection exceptions (08), operator
#: intervention (57P: shutting down, crashed, starting up) and too many connections (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")
#: SQLite errors that mean the database file cannot be used now (not a broken query).
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")
#: A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out
#: (``_check_on_checkout``); one used more recently is handed out as it is.
PING_IDLE_AFTER_S = 5.0
#: ``connection_record.info`` key: when the connection was last returned to the pool.
_IDLE_SINCE = "venta_idle_since"


#: Whether the current task (or the task that started it) is inside a SQLite transaction of
#: ``Database.begin``: a nested one does not wait for the process's write lock it holds.
_WRITING: ContextVar[bool] = ContextVar("venta_sqlite_writing", default=False)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver error it wraps, and their causes (a few levels at most)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 8:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (getattr(current, "orig", None), current.__cause__) if e is not None]


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, raised while opening a connection, means the database cannot be
    reached."""
    for e in _chain(exc):
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True  # the connection broke mid-statement
        if isinstance(e, sa_exc.TimeoutError | OSError | TimeoutError):
            return True  # refused, reset, unreachable; or no pooled connection came free
        sqlstate = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(e, sqlite3.OperationalError) and str(e).lower().startswith(
            _SQLITE_UNAVAILABLE
        ):
            return True
    return False


def statement_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, raised while a connection is in use, means the database cannot be
    reached: a driver error (SQLAlchemy wraps every one) saying so. A bare ``OSError`` or
    timeout there comes from other work inside the block (a publish to the broker, say), and
    must not be taken for a database outage."""
    return isinstance(exc, sa_exc.DBAPIError) and database_unavailable(exc)


def redact_url(url: str) -> str:
    """The URL with its password hidden, for logs and `venta config show`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid url>"


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _check_on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """What ``pool_pre_ping`` guarantees (a connection broken while it sat in the pool, by a
    database restart, ``pg_terminate_backend`` or the network, is replaced before a request
    gets it) without its three round trips (``BEGIN``, ``;``, ``ROLLBACK`` on asyncpg) on
    every checkout of a busy pool:

    - a connection whose socket the server closed (restart, terminated backend, reset) is
      known closed to asyncpg as soon as the event loop saw the close: replaced, for free;
    - a connection idle for more than ``PING_IDLE_AFTER_S`` (one a silent network failure may
      have broken) is pinged; a failed ping replaces every pooled connection opened before it,
      as ``pool_pre_ping`` does;
    - a connection returned less than ``PING_IDLE_AFTER_S`` ago is handed out as it is.

    ``DisconnectionError`` makes the pool open a new connection in its place (a database that
    cannot be reached then fails the checkout, which ``Database.connect`` answers as an
    outage)."""
    driver = getattr(dbapi_conn, "_connection", None)  # asyncpg's own connection
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise sa_exc.DisconnectionError("the database closed this pooled connection")
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since <= PING_IDLE_AFTER_S:
        return  # new, or in use a moment ago
    try:
        dbapi_conn.ping()
    except Exception as e:
        raise sa_exc.InvalidatePoolError(f"ping of an idle pooled connection failed: {e!r}") from e


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    name = "database"

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self._pool_size = settings.database_pool_size
        self._engine: AsyncEngine | None = None
        self._writer: asyncio.Lock | None = None  # SQLite: the process's turns to write
        self.dependency = Dependency("database", database_unavailable, shown=redact_url(self.url))
        self._in_use = self.dependency.guard(statement_unavailable)
        CLIENT_METRICS.pools.watch(self)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = self._create()
        return self._engine

    def _create(self) -> AsyncEngine:
        if self.is_sqlite:
            engine = create_async_engine(self.url, connect_args={"timeout": 30})
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            engine = create_async_engine(
                self.url,
                pool_size=self._pool_size,
                max_overflow=self._pool_size,
                connect_args={"timeout": CONNECT_TIMEOUT_S},
            )
            event.listen(engine.sync_engine, "checkin", _note_checkin)
            event.listen(engine.sync_engine, "checkout", _check_on_checkout)
        instrument_sqlalchemy(engine.sync_engine)
        return engine

    def pool_status(self) -> tuple[int, int, int] | None:
        """(connections checked out, idle, most the pool opens), for the pool gauges; None
        before the engine exists or for a pool that does not count (``NullPool``)."""
        pool = self._engine.sync_engine.pool if self._engine is not None else None
        if not isinstance(pool, sa.pool.QueuePool):
            return None
        return pool.checkedout(), pool.checkedin(), pool.size() + max(pool._max_overflow, 0)

    async def start(self) -> None:
        _ = self.engine

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        self._writer = None

    async def check(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction: committed on normal exit, rolled back on an exception.

        On SQLite, the process's transactions take turns (an asyncio lock, first come first
        served). SQLite has one writer at a time; without the turns, writers of the same
        process would wait for each other inside the driver's busy timeout, and on a busy
        event loop (a transaction holds the file's lock across every ``await`` in it) a
        writer could wait past that timeout and fail with "database is locked". Readers
        (``connect``) do not wait: WAL lets them read beside the writer."""
        if not self.is_sqlite or _WRITING.get():
            async with self._transaction() as conn:
                yield conn
            return
        if self._writer is None:
            self._writer = asyncio.Lock()
        async with self._writer:
            token = _WRITING.set(True)
            try:
                async with self._transaction() as conn:
                    yield conn
            finally:
                _WRITING.reset(token)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.connect() as conn:
            with self._in_use:
                async with conn.begin():
                    yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection under the database's guard: a failure to open it that means the
        database is unreachable, and driver errors saying so while it is in use, raise
        ``ServiceUnavailable``."""
        with self._in_use:
            async with AsyncExitStack() as stack:
                with self.dependency.guard():
                    conn = await self._checkout(stack)
                yield conn

    async def _checkout(self, stack: AsyncExitStack) -> AsyncConnection:
        """A connection from the pool, with the time waited for it counted."""
        try:
            with CLIENT_METRICS.pool_checkout():
                return await stack.enter_async_context(self.engine.connect())
        except sa_exc.TimeoutError:  # the pool had no connection free within pool_timeout
            CLIENT_METRICS.db_timeouts.inc()
            raise
