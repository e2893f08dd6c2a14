"""``venta db``: migrate, current, downgrade and revision through the command line."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from tests.store.notes_plugin import copy_of_migrations
from tests.store.scratch import (
    child_env,
    empty_postgres_schema,
    scratch_postgres_database,
    sqlite_url,
    use_migrations_copy,
)
from venta_cli.db import db_app

pytestmark = pytest.mark.integration

root = typer.Typer()
root.add_typer(db_app, name="db")


def venta(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(root, ["db", *args], input=input)


def first(result: Result) -> str:
    """venta's own line: the lines after it are the installed plugins' branches."""
    return result.stdout.splitlines()[0]


@pytest.fixture(scope="module")
def cli_postgres_url() -> Iterator[str]:
    with scratch_postgres_database("cli") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty database named by VENTA_DATABASE_URL; the working directory is tmp_path."""
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("cli_postgres_url")
        empty_postgres_schema(url)
    monkeypatch.setenv("VENTA_DATABASE_URL", url)
    return url


def _shown(url: str) -> str:
    """The URL as the commands print it: async driver, password hidden."""
    driver = "sqlite+aiosqlite" if url.startswith("sqlite") else "postgresql+asyncpg"
    return make_url(url).set(drivername=driver).render_as_string(hide_password=True)


def test_migrate_current_downgrade(database_url: str) -> None:
    shown = _shown(database_url)

    assert first(venta("current")) == f"{shown}: base (behind 0006: run `venta db migrate`)"

    result = venta("migrate")
    assert result.exit_code == 0, result.output
    assert first(result) == f"{shown}: migrated base -> 0006"
    assert first(venta("current")) == f"{shown}: 0006 (head)"

    result = venta("downgrade", "-1", "--yes")
    assert result.exit_code == 0, result.output
    assert first(result) == f"{shown}: downgraded 0006 -> 0005"


def test_migrate_twice_changes_nothing(database_url: str) -> None:
    venta("migrate")

    result = venta("migrate")

    assert result.exit_code == 0
    assert first(result).endswith(": already at 0006")


def test_downgrade_needs_a_revision(database_url: str) -> None:
    result = venta("downgrade")

    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_downgrade_asks_first(database_url: str) -> None:
    venta("migrate")

    refused = venta("downgrade", "base", input="n\n")
    assert refused.exit_code == 1
    assert first(venta("current")).endswith(": 0006 (head)")

    agreed = venta("downgrade", "base", input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "downgraded 0006 -> base\n" in agreed.stdout


def test_unknown_revision_is_one_line(database_url: str) -> None:
    result = venta("migrate", "--revision", "abc123")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "abc123" in result.stderr


def test_bad_database_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENTA_DATABASE_URL", "mysql://venta@db/venta")

    result = venta("migrate")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: VENTA_DATABASE_URL")
    assert result.stderr.count("\n") == 1


def test_unreachable_database_is_a_clean_cause_and_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENTA_DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:1/venta")

    for command in (["migrate"], ["current"], ["downgrade", "base", "--yes"]):
        result = venta(*command)

        assert result.exit_code == 1, command
        assert result.stderr == (
            "error: cannot connect to PostgreSQL at "
            "postgresql+asyncpg://postgres:***@127.0.0.1:1/venta (127.0.0.1:1): "
            "connection refused\n"
            "hint: is PostgreSQL running and listening on 127.0.0.1:1? Start it, or set "
            "VENTA_DATABASE_URL to where it runs\n"
        )
        assert "hunter2" not in result.output
        assert "Traceback" not in result.output


def test_revision_writes_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    copy = use_migrations_copy(tmp_path, monkeypatch)

    result = venta("revision", "-m", "add things", "--empty")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"created {copy / 'versions' / '0007_add_things.py'}\n"

    venta("migrate")
    nothing = venta("revision", "-m", "nothing")
    assert nothing.exit_code == 1
    assert nothing.stderr.startswith("error: no schema changes detected")


def test_migrate_imports_no_transport(tmp_path: Path) -> None:
    """`venta db migrate` runs without loading grpc, fastapi or socketio."""
    script = (
        "import sys\n"
        "from venta_cli.main import main\n"
        "sys.argv = ['venta', 'db', 'migrate']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = {'grpc', 'fastapi', 'socketio'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=child_env(VENTA_DATABASE_URL=sqlite_url(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.fixture
def notes_plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notes test plugin installed as a distribution with a ``venta`` entry point (its
    migrations in a copy of their own, which ``venta db revision --plugin`` may write into)."""
    site = tmp_path / "site"
    module = f"venta_test_notes_{uuid.uuid4().hex}"  # a module of its own for each test
    info = site / "venta_test_notes-0.1.dist-info"
    info.mkdir(parents=True)
    migrations = copy_of_migrations(tmp_path)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: venta-test-notes\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[venta]\nnotes = {module}:plugin\n")
    (site / f"{module}.py").write_text(
        "from pathlib import Path\n"
        "from tests.store.notes_plugin import NotesPlugin\n"
        f"plugin = NotesPlugin(Path({str(migrations)!r}))\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return migrations


def _line(result: Result, branch: str) -> str:
    [line] = [line for line in result.stdout.splitlines() if line.startswith(f"  {branch}: ")]
    return line.removeprefix(f"  {branch}: ")


def test_plugin_branches_migrate_show_and_roll_back(
    database_url: str, notes_plugin_installed: Path
) -> None:
    shown = _shown(database_url)
    assert _line(venta("current"), "notes") == "base (behind notes_0002: run `venta db migrate`)"

    migrated = venta("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert first(migrated) == f"{shown}: migrated base -> 0006"
    assert _line(migrated, "notes") == "migrated base -> notes_0002"
    assert _line(venta("current"), "notes") == "notes_0002 (head)"

    alone = venta("downgrade", "notes@-1", "--yes")
    assert alone.exit_code == 0, alone.output
    assert first(alone) == f"{shown}: left at 0006"
    assert _line(alone, "notes") == "downgraded notes_0002 -> notes_0001"

    # venta's 0006 -> 0004 takes the notes (which depend on 0005) along, first.
    below = venta("downgrade", "-2", "--yes")
    assert below.exit_code == 0, below.output
    assert first(below) == f"{shown}: downgraded 0006 -> 0004"
    assert _line(below, "notes") == "downgraded notes_0001 -> base"


def test_revision_into_a_plugin_and_an_unknown_plugin(
    database_url: str, notes_plugin_installed: Path
) -> None:
    venta("migrate")

    written = venta("revision", "--plugin", "notes", "-m", "colour", "--empty")
    unknown = venta("revision", "--plugin", "nope", "-m", "x", "--empty")

    assert written.exit_code == 0, written.output
    assert written.stdout == f"created {notes_plugin_installed / 'notes_0003_colour.py'}\n"
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: no plugin named 'nope' has migrations (those ")
    assert unknown.stderr.count("\n") == 1
