"""``venta users restore``, run as the real command: it lifts a deleted account's tombstone,
after which the identity gets a new user."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.store.scratch import child_env, sqlite_url
from venta_core.errors import Unauthenticated
from venta_core.services.identities import DeletedIdentities
from venta_core.settings import Settings
from venta_core.store.engine import Database
from venta_core.testing import database_settings

VENTA = [sys.executable, "-m", "venta_cli.main"]


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return database_settings(str(request.param), tmp_path, request)


def venta(cwd: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VENTA, *args],
        cwd=cwd,
        env=child_env(VENTA_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _forget(settings: Settings, external_id: str) -> None:
    database = Database(settings)
    try:
        await DeletedIdentities(database).forget(external_id)
    finally:
        await database.stop()


async def _sign_in(settings: Settings, external_id: str) -> str:
    from venta_core.app import Venta

    async with Venta(settings, load_entry_points=False) as app:
        return (await app.users.ensure_user(external_id)).id


def test_restore_lets_a_deleted_identity_sign_in_again(settings: Settings, tmp_path: Path):
    subject = f"user_{uuid.uuid4().hex[:12]}"
    asyncio.run(_forget(settings, subject))
    with pytest.raises(Unauthenticated):
        asyncio.run(_sign_in(settings, subject))

    restored = venta(tmp_path, settings.database_url, "users", "restore", subject)
    again = venta(tmp_path, settings.database_url, "users", "restore", subject)

    assert (restored.returncode, restored.stderr) == (0, "")
    assert restored.stdout == f"restored {subject}: its next sign-in creates a new account\n"
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == f"error: {subject} is not a deleted account\n"
    assert asyncio.run(_sign_in(settings, subject))


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("", "EXTERNAL_ID must be 1 to 255 characters"),
        ("x" * 256, "EXTERNAL_ID must be 1 to 255 characters"),
        ("user_\x01", "EXTERNAL_ID must not contain control characters"),
    ],
    ids=["empty", "256", "control"],
)
def test_an_impossible_external_id_is_a_usage_error(tmp_path: Path, argument: str, reason: str):
    done = venta(tmp_path, sqlite_url(tmp_path), "users", "restore", argument)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {reason}\n"


def test_an_unmigrated_database_is_a_one_line_error_and_stays_untouched(tmp_path: Path):
    url = sqlite_url(tmp_path)
    done = venta(tmp_path, url, "users", "restore", "user_1")

    assert (done.returncode, done.stdout) == (1, "")
    assert (
        done.stderr
        == "error: the database schema is not up to date: run `venta db migrate` first\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_database_is_a_one_line_error_without_the_password(tmp_path: Path):
    url = "postgresql://venta:hunter2@127.0.0.1:1/venta"
    done = venta(tmp_path, url, "users", "restore", "user_1")

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "hunter2" not in done.stderr
