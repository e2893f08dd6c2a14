"""schemathesis, with all its checks, against ``/openapi.json`` of a real `venta serve gateway`
on SQLite and on PostgreSQL (+ Redis + NATS), with a valid bearer token.

Every request valid for the document must be accepted, every invalid one refused, never a 500,
and every answer must match the document. Bounded and deterministic: a fixed seed and a few
examples per operation. Left out: the webhook routes (plugins'), which need deliveries signed
with a provider's secret; the example plugins that are not part of venta.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import real_service_url
from tests.e2e.processes import VentaProcess, clean_env, free_port, http_ok, run_cli, wait_until

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def _serve_env(backend: str, tmp_path: Path, port: int, request: pytest.FixtureRequest) -> dict:
    env = {
        "VENTA_HTTP__PORT": str(port),
        "VENTA_LOG__LEVEL": "WARNING",
        "VENTA_RATE_LIMIT__ENABLED": "false",  # thousands of requests from one client
        "VENTA_PLUGINS_BLOCKED": "favourites,algolia",
        "VENTA_UPLOADS__DIR": str(tmp_path / "uploads"),
    }
    if backend == "sqlite":
        env["VENTA_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'venta.db'}"
        return env
    env["VENTA_DATABASE_URL"] = request.getfixturevalue("fresh_database")
    env["VENTA_REDIS_URL"] = real_service_url("redis")
    env["VENTA_NATS_URL"] = real_service_url("nats")
    env["VENTA_KEY_PREFIX"] = request.getfixturevalue("key_prefix")
    return env


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_gateway_does_what_its_openapi_document_says(
    backend: str,
    tmp_path: Path,
    processes: list[VentaProcess],
    request: pytest.FixtureRequest,
) -> None:
    port = free_port()
    env = clean_env(**_serve_env(backend, tmp_path, port, request))
    if backend == "postgresql":
        run_cli(["db", "migrate"], env, tmp_path)
    gateway = VentaProcess("gateway", ["serve", "gateway"], env, tmp_path, tmp_path / "log")
    processes.append(gateway.start())
    base = f"http://127.0.0.1:{port}"
    wait_until("gateway ready", lambda: http_ok(f"{base}/ready"), 60, watch=[gateway])
    token = run_cli(["token", "issue", "--sub", "fuzz_user"], env, tmp_path).strip()

    result = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the hooks module
        cwd=tmp_path,  # schemathesis and hypothesis keep their caches in the working directory
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    gateway.ensure_running()
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert summary and summary[1] == summary[2] and int(summary[1]) > 500, result.stdout[-5000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, result.stdout[-5000:]
