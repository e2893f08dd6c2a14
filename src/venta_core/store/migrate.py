"""Schema migrations in code: the API behind ``venta db`` and migrate-at-start.

Alembic is configured here rather than in an alembic.ini, with ``script_location`` pointing at the
``migrations`` directory inside the package, so migrations run the same from a source checkout and
from an installed wheel. Online migrations run on the async engine in an event loop of their own
(env.py calls ``asyncio.run``): call the sync functions from sync code and ``upgrade_async`` from
a running loop. Errors are ``MigrationError``s whose message is one line without the password.

Plugins own tables through migrations of their own, each an Alembic branch (``branches.py``):
every function takes the ``plugins`` (``venta_core.plugins.schema_migrations``) whose branches to
include beside venta's own, and without them handles venta's schema alone.
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
from venta_core.store.branches import CORE, PluginMigrations, branch_of, branch_state
from venta_core.store.engine import Database, redact_url

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseUnreachableError",
    "MigrationError",
    "PluginMigrations",
    "SchemaNotCurrentError",
    "connect",
    "current",
    "downgrade",
    "ensure_current",
    "heads",
    "is_up_to_date",
    "newest",
    "plugin_migrations",
    "revision",
    "state",
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
    """The database is not at the newest revisions shipped in the package and the loaded
    plugins (``venta db migrate`` brings it there), or at one they do not know (a newer venta
    wrote it)."""

    exit_code = 2

    def __init__(self, at: Sequence[str], newest: Sequence[str], unknown: bool = False) -> None:
        shown, latest = ", ".join(at) or "base", ", ".join(newest)
        if unknown:
            super().__init__(
                f"database is at {shown}, which this venta does not know (newest is {latest})",
                hint="run the venta version that migrated it, or downgrade the database with it; "
                "a plugin's revision (NAME_0001): install or unblock that plugin, or roll its "
                "branch back with it first (venta db downgrade NAME@base)",
            )
        else:
            super().__init__(f"database is at {shown}, newest is {latest}: run `venta db migrate`")


Plugins = Sequence[PluginMigrations]


def plugin_migrations(*pms: Any, settings: Settings) -> list[PluginMigrations]:
    """The migrations of every plugin of the plugin managers ``pms`` that answers
    ``venta_migrations``; the same plugin in two managers counts once."""
    found: dict[str, PluginMigrations] = {}
    for pm in pms:
        for answer in pm.hook.venta_migrations(settings=settings):
            if answer is None:
                continue
            if not isinstance(answer, PluginMigrations):
                raise MigrationError(f"venta_migrations answered {answer!r}, not PluginMigrations")
            if not answer.directory.is_dir():
                raise MigrationError(
                    f"migrations of {answer.name}: no directory {answer.directory}"
                )
            seen = found.setdefault(answer.name, answer)
            if seen.directory.resolve() != answer.directory.resolve():
                raise MigrationError(f"two plugins have migrations named {answer.name!r}")
    return list(found.values())


def upgrade(settings: Settings, revision: str = "heads", plugins: Plugins = ()) -> None:
    """Migrate the database of ``settings`` up to ``revision`` (``heads``: venta's newest and
    each plugin's); a no-op when already there."""
    with _command_lock, _errors(settings.database_url):
        command.upgrade(_config(settings.database_url, plugins), revision)


async def upgrade_async(settings: Settings, revision: str = "heads", plugins: Plugins = ()) -> None:
    """``upgrade`` from async code: env.py runs its own event loop, so it runs in a thread."""
    await asyncio.to_thread(upgrade, settings, revision, plugins)


def downgrade(settings: Settings, revision: str, plugins: Plugins = ()) -> None:
    """Migrate down to ``revision``; this may drop data. ``-N`` steps venta's own schema back
    (with the plugin revisions that depend on what it drops), ``NAME@-N`` or ``NAME@base`` a
    plugin's, ``base`` everything, an id down to that revision."""
    target = revision
    if revision.startswith("-") and revision[1:].isdigit():
        at = state(settings, plugins)[CORE]
        target = f"{at}{revision}" if at else revision
    with _command_lock, _errors(settings.database_url):
        command.downgrade(_config(settings.database_url, plugins), target)


def state(settings: Settings, plugins: Plugins = ()) -> dict[str, str | None]:
    """The revision each branch is at, venta's (``"venta"``) first; ``None`` is base."""
    return _state(asyncio.run(_current_heads(settings.database_url)), plugins)


def current(settings: Settings, plugins: Plugins = ()) -> str | None:
    """The revision venta's own schema is at, or ``None`` when it has never been migrated."""
    return state(settings, plugins)[CORE]


def heads(plugins: Plugins = ()) -> list[str]:
    """The newest revision(s) shipped in the package, then those of ``plugins``."""
    script = _script(plugins)
    return sorted(script.get_heads(), key=lambda rev: (branch_of(script, rev) != CORE, rev))


def newest(plugins: Plugins = ()) -> dict[str, str]:
    """The newest revision of each branch, venta's (``"venta"``) first."""
    script = _script(plugins)
    return {branch_of(script, rev): rev for rev in heads(plugins)}


async def ensure_current(
    database: Database, within: float = CONNECT_TIMEOUT_SECONDS, plugins: Plugins = ()
) -> None:
    """Start-up check of a database that is not migrated at start: it answers ``within``
    seconds (else ``DatabaseUnreachableError``) and each branch is at its newest revision (else
    ``SchemaNotCurrentError``). A SQLite file that does not exist is at base (and not created).

    A revision nothing loaded knows was written by a newer venta, or by a plugin that is no
    longer loaded (uninstalled or blocked): the version table keeps a plugin's head in place of
    the venta revision it depends on, so without the plugin venta's own state is unknown."""
    found: tuple[str, ...] = ()
    if (path := _sqlite_file(database.url)) is None or path.exists():
        try:
            async with asyncio.timeout(within), database.connect() as connection:
                found = await connection.run_sync(_read_heads)
        except Exception as exc:
            raise DatabaseUnreachableError(database.url, exc, within) from exc
    _check(found, plugins)


async def is_up_to_date(settings: Settings, plugins: Plugins = ()) -> bool:
    """Whether every branch is at its newest revision (readiness); raises when unreachable."""
    try:
        _check(await _current_heads(settings.database_url), plugins)
    except SchemaNotCurrentError:
        return False
    return True


def revision(
    settings: Settings,
    message: str,
    autogenerate: bool = True,
    plugin: str | None = None,
    plugins: Plugins = (),
) -> str:
    """Write a new migration and return its path: into the package, or with ``plugin`` into
    that plugin's directory (its first one starts the branch, depending on venta's newest).

    With ``autogenerate`` the operations are derived by comparing the tables (``tables.metadata``
    or the plugin's ``metadata``) with the database, which must be at head, and an empty
    comparison is refused rather than written.
    """
    config = _config(settings.database_url, plugins)
    options: dict[str, Any] = {"rev_id": _next_id(), "head": newest(plugins)[CORE]}
    if plugin is not None:
        options = _plugin_revision(config, _named(plugin, plugins), autogenerate)
    if autogenerate:
        config.attributes["process_revision_directives"] = _refuse_empty
    with _command_lock, _errors(settings.database_url):
        script = command.revision(config, message=message, autogenerate=autogenerate, **options)
    if not isinstance(script, Script):
        raise MigrationError("alembic wrote no single revision file")
    _format(Path(script.path))
    return script.path


def _named(name: str, plugins: Plugins) -> PluginMigrations:
    for migrations in plugins:
        if migrations.name == name:
            return migrations
    names = ", ".join(sorted(m.name for m in plugins)) or "none"
    raise MigrationError(f"no plugin named {name!r} has migrations (those that have: {names})")


def _plugin_revision(
    config: Config, plugin: PluginMigrations, autogenerate: bool
) -> dict[str, Any]:
    """``command.revision`` options for the next revision of ``plugin``'s branch."""
    if autogenerate:
        if plugin.metadata is None:
            raise MigrationError(
                f"plugin {plugin.name} gives no metadata to compare: write the revision --empty"
            )
        config.attributes["target_metadata"] = _with_core(plugin.metadata)
        config.attributes["include_object"] = _only(plugin.metadata)
    script = ScriptDirectory.from_config(config)
    mine = [
        s.revision for s in script.walk_revisions() if branch_of(script, s.revision) == plugin.name
    ]
    numbers = [int(n) for rev in mine if (n := rev.rpartition("_")[2]).isdigit()]
    options: dict[str, Any] = {
        "rev_id": f"{plugin.name}_{max(numbers, default=0) + 1:04d}",
        "version_path": str(plugin.directory),
    }
    if mine:
        options["head"] = f"{plugin.name}@head"
    else:
        core = [rev for rev in script.get_heads() if branch_of(script, rev) == CORE]
        options.update(head="base", branch_label=plugin.name, depends_on=core)
    return options


def _with_core(metadata: Any) -> Any:
    """venta's tables and the plugin's in one ``MetaData``, so that the plugin's foreign keys
    to venta's tables resolve (only the plugin's are compared: ``_only``)."""
    import sqlalchemy as sa

    from venta_core.store.tables import metadata as core

    combined = sa.MetaData(naming_convention=core.naming_convention)
    for table in [*core.tables.values(), *metadata.tables.values()]:
        table.to_metadata(combined)
    return combined


def _only(metadata: Any) -> Any:
    """Alembic ``include_object`` comparing the tables of ``metadata`` and nothing else."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in metadata.tables

    return include


def _state(found: Sequence[str], plugins: Plugins) -> dict[str, str | None]:
    script = _script(plugins)
    known = {s.revision for s in script.walk_revisions()}
    unknown = [rev for rev in found if rev not in known]
    if unknown:
        raise MigrationError(
            f"the database is at {', '.join(unknown)}, which neither venta nor a loaded plugin "
            "ships (a newer venta, or a plugin uninstalled or blocked)"
        )
    return branch_state(script, found, [CORE, *(p.name for p in plugins)])


def _check(found: Sequence[str], plugins: Plugins) -> None:
    """Raise ``SchemaNotCurrentError`` unless every branch is at its newest revision."""
    script = _script(plugins)
    known = {s.revision for s in script.walk_revisions()}
    unknown = [rev for rev in found if rev not in known]
    names = [CORE, *(p.name for p in plugins)]
    at = branch_state(script, [rev for rev in found if rev in known], names)
    shown = [rev for rev in at.values() if rev] + unknown
    if unknown:
        raise SchemaNotCurrentError(shown, heads(plugins), unknown=True)
    if any(at.get(branch) != rev for branch, rev in newest(plugins).items()):
        raise SchemaNotCurrentError(shown, heads(plugins))


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


def _config(url: str, plugins: Plugins = ()) -> Config:
    # quiet: the CLI reports what happened itself; alembic would print to stdout.
    config = Config(cmd_opts=Namespace(quiet=True, x=None))
    config.set_main_option("script_location", _escaped(MIGRATIONS_DIR))
    if plugins:
        locations = [MIGRATIONS_DIR / "versions", *(p.directory for p in plugins)]
        config.set_main_option("path_separator", "newline")
        config.set_main_option("version_locations", "\n".join(map(_escaped, locations)))
        tables = {name for p in plugins if p.metadata is not None for name in p.metadata.tables}
        config.attributes["exclude_tables"] = tables
    config.attributes["url"] = url
    return config


def _escaped(path: Path) -> str:
    return str(path).replace("%", "%%")


def _script(plugins: Plugins = ()) -> ScriptDirectory:
    if not plugins:
        return ScriptDirectory(str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(_config("", plugins))


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
