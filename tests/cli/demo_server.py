"""What the demo command tests share: a `venta serve all` of their own on a SQLite file in a
directory of the test, `venta` runs that never raise, and readers of their output and files."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.processes import VENTA, VentaProcess, clean_env, http_ok, wait_until

__all__ = [
    "assert_lines",
    "count_rows",
    "get_json",
    "problems",
    "run_venta",
    "serve_all",
]

_BAD_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
#: A plain (not JSON) line that reports a problem.
_PROBLEM = re.compile(r"warning|error|failed|traceback|exception", re.IGNORECASE)


@contextmanager
def serve_all(
    cwd: Path, port: int, *, args: Sequence[str] = (), **env: str
) -> Iterator[VentaProcess]:
    """`venta serve all` in ``cwd`` (its database: ``cwd/venta.db``), ready on ``port``.

    ``args`` are added to the command line; without ``--port`` among them the port is given
    by ``VENTA_HTTP__PORT``."""
    if "--port" not in args:
        env = {"VENTA_HTTP__PORT": str(port), **env}
    server = VentaProcess(
        "server", ["serve", "all", *args], clean_env(**env), cwd, cwd / "server.log"
    ).start()
    try:
        ready = f"http://127.0.0.1:{port}/ready"
        wait_until("the server to be ready", lambda: http_ok(ready), 60, watch=[server])
        yield server
    except BaseException:
        print(f"===== server output =====\n{server.output()}")
        raise
    finally:
        server.stop()


def run_venta(args: Sequence[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VENTA, *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def problems(output: str) -> list[str]:
    """The lines of ``output`` that report a warning, an error or a failure: JSON log lines
    of such a level or saying "failed", and any other line naming one."""
    found = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            message = str(record.get("message", ""))
            if record.get("level") in _BAD_LEVELS or "failed" in message.lower():
                found.append(line)
        elif _PROBLEM.search(line):
            found.append(line)
    return found


def assert_lines(output: str, patterns: Sequence[str]) -> list[re.Match[str]]:
    """Each line of ``output`` matches its regular expression, and there are no more lines."""
    lines = output.splitlines()
    assert len(lines) == len(patterns), output
    matches = []
    for n, (line, pattern) in enumerate(zip(lines, patterns, strict=True)):
        match = re.fullmatch(pattern, line)
        assert match is not None, f"line {n + 1}: {line!r} !~ {pattern!r}\n{output}"
        matches.append(match)
    return matches


def get_json(url: str, token: str) -> object:
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(database: Path, sql: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute(sql).fetchone()[0])
