"""`venta serve all` as a real process: fresh SQLite file, the API end to end, graceful stop."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

VENTA = [sys.executable, "-m", "venta_cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    env.update(
        {
            "VENTA_HTTP__PORT": str(port),
            "VENTA_LOCATION__FLUSH_INTERVAL_SECONDS": "30",  # only the shutdown flush writes
            "VENTA_LOG__LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    port = _free_port()
    env = _env(tmp_path, port)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [*VENTA, "serve", "all"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("venta serve all did not become ready")
        if proc.poll() is not None:
            pytest.fail("venta serve all exited:\n" + (tmp_path / "server.log").read_text())
        yield base, proc, env
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _token(subject: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        [*VENTA, "token", "issue", "--sub", subject],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    return out.stdout.strip()


def test_serve_all_on_a_fresh_machine(
    server: tuple[str, subprocess.Popen[bytes], dict[str, str]], tmp_path: Path
) -> None:
    base, proc, env = server
    alice = {"Authorization": f"Bearer {_token('alice', tmp_path, env)}"}
    bob = {"Authorization": f"Bearer {_token('bob', tmp_path, env)}"}
    with httpx.Client(base_url=base, timeout=10) as client:
        created = client.post("/v1/vendors", json={"name": "Taco Truck"}, headers=alice)
        assert created.status_code == 201, created.text
        vendor_id = created.json()["id"]
        moved = client.put(
            f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
        )
        assert moved.status_code == 200, moved.text
        box = "swLat=52.5&swLong=13.38&neLat=52.54&neLong=13.43"
        nearby = client.get(f"/v1/vendors/nearby?{box}", headers=bob).json()
        assert [v["id"] for v in nearby["vendors"]] == [vendor_id]
        refused = client.put(f"/v1/vendors/{vendor_id}", json={"name": "Mine"}, headers=bob)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"
        assert client.get("/metrics").status_code == 200

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    with sqlite3.connect(tmp_path / "venta.db") as db:
        row = db.execute("SELECT lat, long FROM vendors WHERE id = ?", (vendor_id,)).fetchone()
        pending = db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    assert row == (52.52, 13.405)  # written behind at shutdown, not per update
    assert pending == (0,)  # every event relayed before exit


def test_serve_refuses_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*VENTA, "serve", "gateway", "--port", str(port)],
            cwd=tmp_path,
            env=_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = _env(tmp_path, 1) | {"VENTA_HTTP__PORT": "eighty"}
    result = subprocess.run(
        [*VENTA, "serve", "all"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: VENTA_HTTP__PORT:")
