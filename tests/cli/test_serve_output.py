"""What ``venta serve`` writes while it runs: one banner per role with the real ports, no
library chatter at INFO, and no token in any log line, uvicorn's websocket line included."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import socketio

from tests.cli.process import VENTA, closed_port, command_env
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings

DEADLINE_SECONDS = 60
BANNER = re.compile(r"\bserving (?P<what>[^:]+): (?P<endpoints>.*)")


@contextmanager
def serving(
    args: list[str], cwd: Path, **variables: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``venta ARGS`` running, its stderr going to a file; SIGTERM at the end."""
    log = cwd / "stderr.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*VENTA, *args], cwd=cwd, env=command_env(**variables), stdout=out, stderr=out
        )
        try:
            yield proc, log
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_for(log: Path, proc: subprocess.Popen[bytes], found: Callable[[str], str | None]) -> str:
    """Poll the log until ``found`` returns something for it."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text()
        result = found(text)
        if result is not None:
            return result
        if proc.poll() is not None:
            pytest.fail(f"venta exited ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting:\n{log.read_text()}")


def banners(text: str) -> list[str]:
    """The banner messages of a log, JSON or text."""
    found = []
    for line in text.splitlines():
        message = str(json.loads(line)["message"]) if line.startswith("{") else line
        match = BANNER.search(message)
        if match:
            found.append(match.group(0))
    return found


def messages(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def endpoints(banner: str) -> dict[str, str]:
    match = BANNER.search(banner)
    assert match is not None
    return dict(item.split(" ", 1) for item in match.group("endpoints").split(", "))


@pytest.fixture
def workdir(tmp_path: Path, sqlite_template: Path) -> Path:
    shutil.copyfile(sqlite_template, tmp_path / "venta.db")
    return tmp_path


TOKEN = DevTokenProvider(AuthSettings()).issue("alice", ttl_seconds=600)


async def _connect_with_query_token(base: str) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        f"{base}?token={TOKEN}", namespaces=["/user"], transports=["websocket"], wait_timeout=20
    )
    await client.disconnect()


def _serve_all_and_connect(workdir: Path, **variables: str) -> str:
    port = closed_port()
    with serving(["serve", "all", "--port", str(port)], workdir, **variables) as (proc, log):
        wait_for(log, proc, lambda text: "ok" if banners(text) else None)
        asyncio.run(_connect_with_query_token(f"http://127.0.0.1:{port}"))
        time.sleep(0.5)  # the disconnect is logged after the client returns
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    base = f"http://127.0.0.1:{port}"
    assert banners(text) == [
        f"serving gateway, ws, worker: API {base}, docs {base}/docs, "
        f"real-time {base}/socket.io/, metrics {base}/metrics"
    ]
    return text


def test_serve_all_at_info_is_quiet_and_has_one_banner(workdir: Path) -> None:
    text = _serve_all_and_connect(workdir, VENTA_LOG__LEVEL="INFO")

    lines = messages(text)  # JSON: stderr is not a terminal
    assert "\x1b" not in text
    shown = "\n".join(str(line["message"]) for line in lines)
    for chatter in ("Context impl", "Will assume", "setup plugin", "WebSocket", "connection "):
        assert chatter not in shown
    assert "Started server process" not in shown
    assert TOKEN not in text


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_query_token_never_reaches_the_log(workdir: Path, log_format: str) -> None:
    text = _serve_all_and_connect(workdir, VENTA_LOG__LEVEL="DEBUG", VENTA_LOG__FORMAT=log_format)

    assert TOKEN not in text
    assert TOKEN.split(".")[2] not in text  # not even the signature alone
    handshake = [line for line in text.splitlines() if '"WebSocket /socket.io/?' in line]
    assert len(handshake) == 1, text
    assert "/socket.io/?token=[redacted]&" in handshake[0]
    assert "DEBUG" in handshake[0]
    if log_format == "json":
        messages(text)
    else:
        assert not text.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("args", "what", "names"),
    [
        (["serve", "ws", "--port", "0"], "ws", ["real-time", "health", "metrics"]),
        (["serve", "gateway", "--port", "PORT"], "gateway", ["API", "docs", "metrics"]),
        (["serve", "worker", "--port", "0"], "worker", ["health", "metrics"]),
        (
            ["serve", "grpc", "--service", "vendor", "--port", "0"],
            "grpc",
            ["vendor", "health", "metrics"],
        ),
    ],
)
def test_each_role_announces_its_real_endpoints_once(
    workdir: Path, args: list[str], what: str, names: list[str]
) -> None:
    args = [str(closed_port()) if a == "PORT" else a for a in args]
    variables = {"VENTA_GRPC__METRICS_PORT": "0"}
    with serving(args, workdir, **variables) as (proc, log):
        banner = wait_for(log, proc, lambda text: (banners(text) or [None])[0])
        shown = endpoints(banner)
        assert list(shown) == names
        assert banner.startswith(f"serving {what}")
        assert all(
            ":0/" not in address and not address.endswith(":0") for address in shown.values()
        )
        probe = shown.get("health") or shown["API"] + "/health"
        assert httpx.get(probe, timeout=10).status_code == 200
        time.sleep(0.5)
        assert len(banners(log.read_text())) == 1


PLACEHOLDER_WARNING = (
    "grpc.identity_secret is the development placeholder, so anyone who can reach a gRPC port "
    "can act as any user; set VENTA_GRPC__IDENTITY_SECRET to the same random value in every "
    "venta process (python -c 'import secrets; print(secrets.token_urlsafe(32))'); production "
    "refuses the placeholder"
)


def _warnings(args: list[str], cwd: Path, **variables: str) -> list[str]:
    with serving(args, cwd, VENTA_GRPC__METRICS_PORT="0", **variables) as (proc, log):
        wait_for(log, proc, lambda text: "ok" if banners(text) else None)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return [str(m["message"]) for m in messages(log.read_text()) if m["level"] == "WARNING"]


@pytest.mark.parametrize(
    ("args", "remote", "times"),
    [
        (["serve", "grpc", "--service", "vendor", "--port", "0"], False, 1),
        (["serve", "grpc", "--service", "vendor", "--port", "0"], True, 1),
        (["serve", "gateway", "--port", "PORT"], True, 1),
        (["serve", "gateway", "--port", "PORT"], False, 0),  # no gRPC in this process
    ],
)
def test_the_placeholder_grpc_secret_is_warned_about_once(
    workdir: Path, args: list[str], remote: bool, times: int
) -> None:
    args = [str(closed_port()) if a == "PORT" else a for a in args]
    variables = {"VENTA_SERVICES__USER__ADDRESS": f"127.0.0.1:{closed_port()}"} if remote else {}

    warned = _warnings(args, workdir, **variables)
    assert warned.count(PLACEHOLDER_WARNING) == times, warned

    secret = {"VENTA_GRPC__IDENTITY_SECRET": "a-real-secret-of-this-deployment"}
    assert PLACEHOLDER_WARNING not in _warnings(args, workdir, **variables, **secret)
