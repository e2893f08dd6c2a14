"""Schema migrations in code: the API behind ``venta db`` and migrate-at-start.

Alembic is configured here rather than in an alembic.ini, with ``script_location`` pointing at the
``migrations`` directory inside the package, so migrations run the same from a source checkout and
from an installed wheel. Online migrations run on the async engine in an event loop of their own
(env.py calls ``asyncio.run``): call the sync functions from sync code and ``upgrade_async`` from
a running loop. Errors are ``MigrationError``s whose message is one line without the password.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import threading
from argparse import Namespace
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from venta_core.settings import Settings
from venta_core.startup import Backend, BackendUnreachableError, StartupError
from venta_core.store.engine import Database, redact_url

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseUnreachableError",
    "MigrationError",
    "SchemaNotCurrentError",
    "connect",
    "current",
    "downgrade",
    "ensure_current",
    "heads",
    "is_up_to_date",
    "revision",
    "upgrade",
    "upgrade_async",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
CONNECT_TIMEOUT_SECONDS = 10.0

# Alembic keeps the running migration context in module globals (``alembic.context``,
# ``alembic.op``): two commands at once in one process would mix up their connections. Processes
# are serialised by a PostgreSQL advisory lock in env.py instead.
_command_lock = threading.Lock()


class MigrationError(Exception):
    """A migration command failed; ``str()`` is one line and never shows the password."""


class DatabaseUnreachableError(MigrationError, BackendUnreachableError):
    """The database could not be connected to (refused, timed out, bad credentials, missing)."""

    def __init__(self, url: str, reason: BaseException, timeout: float | None = None) -> None:
        BackendUnreachableError.__init__(self, Backend.database(url), reason, timeout)


class SchemaNotCurrentError(MigrationError, StartupError):
    """The database is not at the newest revision shipped in the package (``venta db
    migrate`` brings it there), or at one this package does not know (a newer venta wrote it)."""

    exit_code = 2

    def __init__(self, found: Sequence[str]) -> None:
        at = ", ".join(found) or "base"
        newest = ", ".join(heads())
        known = {script.revision for script in _script().walk_revisions()}
        if set(found) - known:
            super().__init__(
                f"database is at {at}, which this venta does not know (newest is {newest})",
                hint="run the venta version that migrated it, or downgrade the database with it",
            )
        else:
            super().__init__(f"database is at {at}, newest is {newest}: run `venta db migrate`")


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the database of ``settings`` up to ``revision``; a no-op when already there."""
    with _command_lock, _errors(settings.database_url):
        command.upgrade(_config(settings.database_url), revision)


async def upgrade_async(settings: Settings, revision: str = "head") -> None:
    """``upgrade`` from async code: env.py runs its own event loop, so it runs in a thread."""
    await asyncio.to_thread(upgrade, settings, revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Migrate down to ``revision`` (``-1``, ``base`` or an id); this may drop data."""
    with _command_lock, _errors(settings.database_url):
        command.downgrade(_config(settings.database_url), revision)


def current(settings: Settings) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated."""
    found = asyncio.run(_current_heads(settings.database_url))
    if len(found) > 1:
        raise MigrationError(f"the database is at several heads: {', '.join(found)}")
    return found[0] if found else None


def heads() -> list[str]:
    """The newest revision(s) shipped in the package."""
    return list(_script().get_heads())


async def ensure_current(database: Database, within: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Start-up check of a database that is not migrated at start: it answers ``within``
    seconds (else ``DatabaseUnreachableError``) and is at the shipped heads (else
    ``SchemaNotCurrentError``). A SQLite file that does not exist is at base (and not created)."""
    found: tuple[str, ...] = ()
    if (path := _sqlite_file(database.url)) is None or path.exists():
        try:
            async with asyncio.timeout(within), database.connect() as connection:
                found = await connection.run_sync(_read_heads)
        except Exception as exc:
            raise DatabaseUnreachableError(database.url, exc, within) from exc
    if set(found) != set(heads()):
        raise SchemaNotCurrentError(found)


async def is_up_to_date(settings: Settings) -> bool:
    """Whether the database is at the shipped heads (readiness); raises when unreachable."""
    return set(await _current_heads(settings.database_url)) == set(heads())


def revision(settings: Settings, message: str, autogenerate: bool = True) -> str:
    """Write a new migration into the package and return its path.

    With ``autogenerate`` the operations are derived by comparing ``tables.metadata`` with the
    database (which must be at head), and an empty comparison is refused rather than written.
    """
    config = _config(settings.database_url)
    if autogenerate:
        config.attributes["process_revision_directives"] = _refuse_empty
    with _command_lock, _errors(settings.database_url):
        script = command.revision(
            config, message=message, autogenerate=autogenerate, rev_id=_next_id()
        )
    if not isinstance(script, Script):
        raise MigrationError("alembic wrote no single revision file")
    _format(Path(script.path))
    return script.path


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConnection]:
    """The connection migrations run on: no pool, and ``DatabaseUnreachableError`` on failure.

    No SQLite pragmas either: with ``foreign_keys=ON`` the table rebuilds of batch migrations
    would cascade deletes into child tables.
    """
    engine = _engine(url)
    try:
        try:
            _ensure_sqlite_directory(url)
            connection = await engine.connect()
        except Exception as exc:
            raise DatabaseUnreachableError(url, exc, CONNECT_TIMEOUT_SECONDS) from exc
        try:
            yield connection
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _engine(url: str) -> AsyncEngine:
    timeout = {"timeout": CONNECT_TIMEOUT_SECONDS}
    try:
        return create_async_engine(url, poolclass=NullPool, connect_args=timeout)
    except (ArgumentError, ValueError) as exc:
        detail = "cannot be parsed" if "://" in str(exc) else str(exc)  # may quote the password
        raise MigrationError(f"invalid database URL {redact_url(url)}: {detail}") from exc


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (not in-memory, not a ``file:`` URI), else ``None``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    path = parsed.database
    uri_mode = str(parsed.query.get("uri", "")).lower() in {"1", "true"}
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or uri_mode:
        return None
    return Path(path)


def _ensure_sqlite_directory(url: str) -> None:
    if (path := _sqlite_file(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


async def _current_heads(url: str) -> tuple[str, ...]:
    if (path := _sqlite_file(url)) is not None and not path.exists():
        return ()  # asking must not create an empty database file
    with _errors(url):
        async with connect(url) as connection:
            return await connection.run_sync(_read_heads)


def _read_heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


def _config(url: str) -> Config:
    # quiet: the CLI reports what happened itself; alembic would print to stdout.
    config = Config(cmd_opts=Namespace(quiet=True, x=None))
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = url
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def _next_id() -> str | None:
    """``0002`` after ``0001``: shipped revisions are numbered; alembic picks one otherwise."""
    ids = [script.revision for script in _script().walk_revisions()]
    if ids and all(rev.isdigit() for rev in ids):
        return f"{max(int(rev) for rev in ids) + 1:04d}"
    return None


def _refuse_empty(_context: Any, _revision: Any, directives: Sequence[MigrationScript]) -> None:
    if all(script.upgrade_ops is None or script.upgrade_ops.is_empty() for script in directives):
        raise MigrationError("no schema changes detected: tables.py matches the database")


def _format(path: Path) -> None:
    """Run ruff over a generated revision when it is installed (a development checkout)."""
    if importlib.util.find_spec("ruff") is None:
        return
    for args in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
        subprocess.run(  # noqa: S603 - our own interpreter and a file we just wrote
            [sys.executable, "-m", "ruff", *args, str(path)], check=False, capture_output=True
        )


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """Turn alembic and database errors into a one-line ``MigrationError``."""
    try:
        yield
    except MigrationError:
        raise
    except CommandError as exc:
        raise MigrationError(_reason(exc, url)) from exc
    except SQLAlchemyError as exc:
        raise MigrationError(f"migration failed on {redact_url(url)}: {_reason(exc, url)}") from exc


def _reason(exc: BaseException, url: str) -> str:
    """First line of the underlying error, with the password masked should it appear."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    text = lines[0] if lines else type(original).__name__
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    return text.replace(password, "***") if password else text
