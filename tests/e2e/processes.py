"""Run `venta` commands as separate OS processes, each with its output in a file.

Every wait is bounded; a process that dies while being waited for fails the wait at once with
the tail of its output.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: The `venta` entry point installed next to the interpreter running the tests.
VENTA = str(Path(sys.executable).with_name("venta"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**venta: str) -> dict[str, str]:
    """The current environment without any VENTA_* variable, plus ``venta``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    env.update(venta)
    return env


def services_env(database_url: str, key_prefix: str, **venta: str) -> dict[str, str]:
    """``clean_env`` for processes of one deployment on the real PostgreSQL, Redis and NATS:
    a shared gRPC identity secret, loopback gRPC, no HTTP rate limits, INFO logs, a fast
    position write-behind, then ``venta``."""
    from tests.backends import real_service_url

    return clean_env(
        VENTA_DATABASE_URL=database_url,
        VENTA_DATABASE_AUTO_MIGRATE="false",
        VENTA_REDIS_URL=real_service_url("redis"),
        VENTA_NATS_URL=real_service_url("nats"),
        VENTA_KEY_PREFIX=key_prefix,
        VENTA_GRPC__IDENTITY_SECRET=secrets.token_hex(24),
        VENTA_GRPC__HOST="127.0.0.1",
        VENTA_GRPC__RECONNECT_MAX_BACKOFF_SECONDS="1",
        VENTA_RATE_LIMIT__ENABLED="false",
        VENTA_LOG__LEVEL="INFO",
        VENTA_LOCATION__FLUSH_INTERVAL_SECONDS="0.5",
        **venta,
    )


def run_cli(args: Iterable[str], env: Mapping[str, str], cwd: Path, timeout: float = 120) -> str:
    """Run one `venta` command to completion; return its output, fail with it on error."""
    result = subprocess.run(
        [VENTA, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"venta {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


@dataclass
class VentaProcess:
    """One `venta ...` process; stdout and stderr go to ``log`` (appended across restarts)."""

    name: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> VentaProcess:
        with self.log.open("ab") as out:
            out.write(f"----- start: venta {' '.join(self.args)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                [VENTA, *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the test run is not sent to it
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def ensure_running(self) -> None:
        if not self.running:
            code = None if self.popen is None else self.popen.returncode
            tail = "\n".join(self.output().splitlines()[-30:])
            raise AssertionError(f"{self.name} is not running (exit {code}):\n{tail}")

    def kill9(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def send(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when the process still runs after ``timeout`` seconds."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Last resort at teardown: SIGTERM, then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    *,
    watch: Iterable[VentaProcess] = (),
    interval: float = 0.2,
) -> None:
    """Call ``check`` until it returns True; fail after ``timeout`` or when a watched process
    exits."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            process.ensure_running()
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """True when ``url`` answers 200 (any connection error or other status: False)."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
