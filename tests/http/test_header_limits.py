"""Request heads are bounded on every HTTP port, checked on real `venta serve` processes:
the gateway, the ws role's port, the worker's side port and the gRPC process's side port."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import VentaProcess, clean_env, free_port, http_ok, wait_until

MAX_BYTES = 32 * 1024
MAX_HEADERS = 100


def _serve(role: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``role`` with its HTTP port on ``port``."""
    env = {"VENTA_LOG__LEVEL": "WARNING", "VENTA_RATE_LIMIT__ENABLED": "false"}
    if role == "gateway":
        return ["serve", "gateway"], {**env, "VENTA_HTTP__PORT": str(port)}
    if role == "ws":
        return ["serve", "ws"], {**env, "VENTA_REALTIME__PORT": str(port)}
    if role == "worker":
        return ["serve", "worker", "--port", str(port)], env
    assert role == "grpc"
    args = ["serve", "grpc", "--service", "vendor", "--port", "0"]
    return args, {**env, "VENTA_GRPC__METRICS_PORT": str(port)}


@pytest.fixture(params=["gateway", "ws", "worker", "grpc"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, VentaProcess]]:
    """A `venta serve <role>` process and the port of its HTTP listener."""
    port = free_port()
    args, env = _serve(str(request.param), port)
    env["VENTA_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'venta.db'}"
    process = VentaProcess(str(request.param), args, clean_env(**env), tmp_path, tmp_path / "log")
    process.start()
    try:
        wait_until(
            f"{request.param} /health",
            lambda: http_ok(f"http://127.0.0.1:{port}/health"),
            60,
            watch=[process],
        )
        yield port, process
    finally:
        process.stop()


def _exchange(port: int, head: bytes, timeout: float = 30) -> bytes:
    """Send ``head`` on a new connection; return everything answered until the server closes
    (or, on a kept-alive connection, the first answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # it may stop reading once the head is too large
            sock.sendall(head)
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def _request(extra: bytes = b"", path: bytes = b"/health") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n"


def _assert_431(response: bytes, details: dict[str, int]) -> None:
    status, headers, body = _parse(response)
    assert status == 431, response[:300]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "HEADERS_TOO_LARGE"
    assert error["details"] == details
    assert error["requestId"] == headers["x-request-id"]


def test_oversized_and_too_many_headers_get_431_on_every_http_port(
    listener: tuple[int, VentaProcess],
) -> None:
    port, process = listener
    one_big_header = b"X-Big: " + b"a" * (2 * MAX_BYTES) + b"\r\n"
    _assert_431(_exchange(port, _request(one_big_header)), {"maxBytes": MAX_BYTES})
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    _assert_431(_exchange(port, _request(many)), {"maxHeaders": MAX_HEADERS})
    long_url = b"/health?" + b"q" * MAX_BYTES
    _assert_431(_exchange(port, _request(path=long_url)), {"maxBytes": MAX_BYTES})

    # Within the limits: a head just under the byte limit, exactly the header count.
    fits = b"X-Fits: " + b"a" * (MAX_BYTES - 200) + b"\r\n"
    status, _, body = _parse(_exchange(port, _request(fits)))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    # Host is one of the allowed fields
    enough = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS - 1))
    assert _parse(_exchange(port, _request(enough)))[0] == 200
    process.ensure_running()


def test_a_malformed_request_gets_the_json_envelope(listener: tuple[int, VentaProcess]) -> None:
    port, _ = listener
    status, headers, body = _parse(_exchange(port, b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"] == "Malformed HTTP request"
    assert error["details"]["errors"][0]["field"] == "request"
    assert error["requestId"] == headers["x-request-id"]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _flood(port: int, size: int, outcomes: list[bytes]) -> None:
    """One request whose single header line is ``size`` bytes, sent in 64 KiB writes."""
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sent = 0
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # refused early: what matters is the answer and the server's memory
        try:
            outcomes.append(sock.recv(64))
        except OSError as exc:
            outcomes.append(repr(exc).encode())


@pytest.mark.parametrize("listener", ["gateway"], indirect=True)
def test_memory_stays_bounded_under_concurrent_32_mb_headers(
    listener: tuple[int, VentaProcess],
) -> None:
    port, process = listener
    assert process.popen is not None
    before = _rss_mib(process.popen.pid)
    for _ in range(2):
        outcomes: list[bytes] = []
        threads = [
            threading.Thread(target=_flood, args=(port, 32 * 1024 * 1024, outcomes))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(outcomes) == 8
        assert all(o.startswith(b"HTTP/1.1 431 ") for o in outcomes), outcomes
    grown = _rss_mib(process.popen.pid) - before
    assert grown < 24, f"RSS grew by {grown:.0f} MiB"
    assert http_ok(f"http://127.0.0.1:{port}/health")
