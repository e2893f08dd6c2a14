"""examples/split_deployment/run.sh: valid bash, and its scenario passes against the real
PostgreSQL, Redis and NATS on free ports, stopping every process it started."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.backends import real_service_url
from tests.e2e.processes import VENTA, clean_env, free_port

SCRIPT = Path(__file__).parents[2] / "examples" / "split_deployment" / "run.sh"
PROCESSES = ("user", "vendor", "location", "gateway")


def test_the_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the script drives the API with curl")
def test_the_script_runs_its_scenario_and_stops_everything(
    tmp_path: Path, fresh_database: str, key_prefix: str
) -> None:
    ports = {
        name: free_port()
        for name in (
            "HTTP_PORT",
            "USER_PORT",
            "LOCATION_PORT",
            "VENDOR_PORT",
            "USER_METRICS_PORT",
            "LOCATION_METRICS_PORT",
            "VENDOR_METRICS_PORT",
        )
    }
    env = clean_env(
        VENTA=VENTA,
        VENTA_DATABASE_URL=fresh_database,
        VENTA_REDIS_URL=real_service_url("redis"),
        VENTA_NATS_URL=real_service_url("nats"),
        VENTA_KEY_PREFIX=key_prefix,
        LOG_DIR=str(tmp_path / "logs"),
        READY_TIMEOUT="90",
        **{name: str(port) for name, port in ports.items()},
    )
    (tmp_path / "logs").mkdir()
    try:
        result = subprocess.run(
            ["bash", str(SCRIPT)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
    except subprocess.TimeoutExpired as exc:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in (tmp_path / "logs").iterdir()
        )
        raise AssertionError(f"the script hung: {exc.stdout!r}\n{logs}") from None
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "scenario passed" in result.stdout, output
    for name in PROCESSES:
        assert f"{name} exited 0" in result.stdout, output
    assert not any(_listening(port) for port in ports.values()), "a process outlived the script"
