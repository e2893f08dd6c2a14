"""Every role of ``venta serve`` (and ``venta db``) that cannot start says why in a line or two:
a backend down, unknown, too slow or refusing the credentials, or a schema not migrated. Real
``venta`` processes; "down" is a closed local port, "never migrated" a new empty database."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.backends import real_service_url
from tests.cli.process import closed_port, venta
from tests.store.scratch import scratch_postgres_database
from venta_core.plugins import schema_migrations
from venta_core.settings import Settings
from venta_core.store import migrate

pytestmark = pytest.mark.integration

#: venta's newest revision and those of the installed plugins with tables of their own.
_SETTINGS = Settings(_env_file=None)
NEWEST = ", ".join(migrate.heads(schema_migrations(_SETTINGS)))

#: Each role with flags that bind only free ports, so runs in parallel never collide.
ROLES = {
    "serve all": lambda: ["serve", "all", "--port", str(closed_port())],
    "serve gateway": lambda: ["serve", "gateway", "--port", str(closed_port())],
    "serve ws": lambda: ["serve", "ws", "--port", "0"],
    "serve worker": lambda: ["serve", "worker", "--port", "0"],
    "serve grpc": lambda: ["serve", "grpc", "--service", "vendor", "--port", "0"],
}
#: The gRPC side port on a free port, and a real identity secret (the placeholder is warned about).
FREE_SIDE_PORT = {
    "VENTA_GRPC__METRICS_PORT": "0",
    "VENTA_GRPC__IDENTITY_SECRET": "start-failure-tests-secret",
}


@pytest.fixture
def workdir(tmp_path: Path, sqlite_template: Path) -> Path:
    """A working directory whose default SQLite database is already at head."""
    shutil.copyfile(sqlite_template, tmp_path / "venta.db")
    return tmp_path


@pytest.fixture(scope="module")
def empty_postgres() -> Iterator[str]:
    with scratch_postgres_database("never_migrated") as url:
        yield url


def _refused(name: str, shown: str, port: int, variable: str) -> str:
    return (
        f"error: cannot connect to {name} at {shown} (127.0.0.1:{port}): connection refused\n"
        f"hint: is {name} running and listening on 127.0.0.1:{port}? Start it, or set "
        f"{variable} to where it runs\n"
    )


@pytest.mark.parametrize("role", ROLES)
def test_a_database_never_migrated_stops_every_role(
    role: str, tmp_path: Path, empty_postgres: str
) -> None:
    result = venta(
        *ROLES[role](), cwd=tmp_path, VENTA_DATABASE_URL=empty_postgres, **FREE_SIDE_PORT
    )

    assert result.returncode == 2, result.stderr
    assert (
        result.stderr == f"error: database is at base, newest is {NEWEST}: run `venta db migrate`\n"
    )


def test_a_database_behind_stops_the_gateway(tmp_path: Path) -> None:
    with scratch_postgres_database("behind") as url:
        migrate.upgrade(Settings(_env_file=None, database_url=url), "0002")

        result = venta(
            "serve", "gateway", "--port", str(closed_port()), cwd=tmp_path, VENTA_DATABASE_URL=url
        )

    assert result.returncode == 2, result.stderr
    assert (
        result.stderr == f"error: database is at 0002, newest is {NEWEST}: run `venta db migrate`\n"
    )


@pytest.mark.parametrize("role", ROLES)
def test_postgresql_down(role: str, tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://venta:hunter2@127.0.0.1:{port}/venta"

    result = venta(*ROLES[role](), cwd=tmp_path, VENTA_DATABASE_URL=url, **FREE_SIDE_PORT)

    assert result.returncode == 1
    shown = f"postgresql+asyncpg://venta:***@127.0.0.1:{port}/venta"
    assert result.stderr == _refused("PostgreSQL", shown, port, "VENTA_DATABASE_URL")
    assert result.stdout == ""


@pytest.mark.parametrize("role", ROLES)
def test_redis_down(role: str, workdir: Path) -> None:
    port = closed_port()
    url = f"redis://:hunter2@127.0.0.1:{port}/0"

    result = venta(*ROLES[role](), cwd=workdir, VENTA_REDIS_URL=url, **FREE_SIDE_PORT)

    assert result.returncode == 1
    shown = f"redis://:***@127.0.0.1:{port}/0"
    assert result.stderr == _refused("Redis", shown, port, "VENTA_REDIS_URL")


@pytest.mark.parametrize("role", ROLES)
def test_nats_down(role: str, workdir: Path) -> None:
    port = closed_port()

    result = venta(
        *ROLES[role](), cwd=workdir, VENTA_NATS_URL=f"nats://127.0.0.1:{port}", **FREE_SIDE_PORT
    )

    assert result.returncode == 1
    assert result.stderr == _refused("NATS", f"nats://127.0.0.1:{port}", port, "VENTA_NATS_URL")


@pytest.mark.parametrize("command", [["db", "migrate"], ["db", "current"]])
def test_db_commands_with_postgresql_down(command: list[str], tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://venta:hunter2@127.0.0.1:{port}/venta"

    result = venta(*command, cwd=tmp_path, VENTA_DATABASE_URL=url)

    assert result.returncode == 1
    shown = f"postgresql+asyncpg://venta:***@127.0.0.1:{port}/venta"
    assert result.stderr == _refused("PostgreSQL", shown, port, "VENTA_DATABASE_URL")


def test_an_unknown_host(workdir: Path) -> None:
    url = "redis://redis.venta-test.invalid:6379/0"

    result = venta(
        "serve", "gateway", "--port", str(closed_port()), cwd=workdir, VENTA_REDIS_URL=url
    )

    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot connect to Redis at {url} (redis.venta-test.invalid:6379): "
        "host name not found (redis.venta-test.invalid)\n"
        "hint: check the host name in VENTA_REDIS_URL, and that this machine can resolve it\n"
    )


def test_a_server_that_never_answers(workdir: Path) -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        url = f"redis://127.0.0.1:{port}/0"

        result = venta(
            "serve", "gateway", "--port", str(closed_port()), cwd=workdir, VENTA_REDIS_URL=url
        )

    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot connect to Redis at {url} (127.0.0.1:{port}): no answer within 10 s\n"
        f"hint: check that 127.0.0.1:{port} is reachable from here (host, port, firewall) and "
        "speaks the Redis protocol\n"
    )


def test_postgresql_refuses_the_user(tmp_path: Path) -> None:
    server = make_url(real_service_url("database"))
    host_port = f"{server.host}:{server.port or 5432}"
    url = f"postgresql://venta_nobody@{host_port}/test"

    result = venta(
        "serve", "gateway", "--port", str(closed_port()), cwd=tmp_path, VENTA_DATABASE_URL=url
    )

    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot connect to PostgreSQL at "
        f"postgresql+asyncpg://venta_nobody@{host_port}/test ({host_port}): authentication failed"
        ' (role "venta_nobody" does not exist)\n'
        "hint: check the user name and password in VENTA_DATABASE_URL\n"
    )


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """A redis-server of the test's own that wants the password ``s3cret``."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed")
    port = closed_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            "s3cret",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_refuses_the_password(workdir: Path, redis_with_password: int) -> None:
    port = redis_with_password
    url = f"redis://:wrong-one@127.0.0.1:{port}/0"

    result = venta("serve", "ws", "--port", "0", cwd=workdir, VENTA_REDIS_URL=url)

    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot connect to Redis at redis://:***@127.0.0.1:{port}/0 (127.0.0.1:{port}): "
        "authentication failed (invalid username-password pair or user is disabled.)\n"
        "hint: check the user name and password in VENTA_REDIS_URL\n"
    )
    assert "wrong-one" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "variables"),
    [(["--debug"], {}), ([], {"VENTA_LOG__LEVEL": "DEBUG"})],
)
def test_the_traceback_is_there_when_asked_for(
    workdir: Path, flag: list[str], variables: dict[str, str]
) -> None:
    port = closed_port()
    url = f"redis://127.0.0.1:{port}/0"

    result = venta(
        *flag,
        "serve",
        "gateway",
        "--port",
        str(closed_port()),
        cwd=workdir,
        VENTA_REDIS_URL=url,
        **variables,
    )

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "BackendUnreachableError" in result.stderr
    assert result.stderr.endswith(_refused("Redis", url, port, "VENTA_REDIS_URL"))


def test_search_reindex_on_a_database_never_migrated(tmp_path: Path, empty_postgres: str) -> None:
    result = venta("search", "reindex", cwd=tmp_path, VENTA_DATABASE_URL=empty_postgres)

    assert result.returncode == 2
    assert (
        result.stderr == f"error: database is at base, newest is {NEWEST}: run `venta db migrate`\n"
    )


@pytest.mark.parametrize(
    ("command", "variable", "name", "scheme"),
    [
        (["search", "reindex"], "VENTA_DATABASE_URL", "PostgreSQL", "postgresql"),
        (["events", "dead-letters"], "VENTA_NATS_URL", "NATS", "nats"),
        (["demo", "seed"], "VENTA_REDIS_URL", "Redis", "redis"),
    ],
)
def test_other_commands_with_a_backend_down(
    workdir: Path, command: list[str], variable: str, name: str, scheme: str
) -> None:
    port = closed_port()
    url = f"{scheme}://127.0.0.1:{port}/venta" if scheme != "nats" else f"nats://127.0.0.1:{port}"

    result = venta(*command, cwd=workdir, **{variable: url})

    assert result.returncode == 1
    shown = url.replace("postgresql://", "postgresql+asyncpg://")
    assert result.stderr == _refused(name, shown, port, variable)
