"""Every metric the processes export is in docs/deployment.md's metrics table, and the table
names none they do not export.

Three real processes on the embedded backends, sharing one SQLite file: `venta serve grpc
--service vendor` (the gRPC server metrics, on its side port), `venta serve all` calling that
vendor process (gateway, ws and worker in one process, plus the gRPC client metrics), and
`venta serve worker`. Each exports every metric it registers, with or without samples.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import VentaProcess, clean_env, free_port, http_ok, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
START_TIMEOUT = 90.0  # three interpreters importing at once on a loaded 2-core machine
#: Families of the process, platform and garbage-collector collectors (not ours to document).
STANDARD = ("process_", "python_")
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_NAME = re.compile(r"`(venta_[a-z0-9_]+)`")


def documented() -> set[str]:
    """The metric names in the first column of the table after "Metrics beyond the process
    collectors"."""
    text = DEPLOYMENT_DOC.read_text()
    section = text.split("Metrics beyond the process collectors", 1)[1]
    rows = section.split("\n\n", 2)[1].splitlines()
    assert rows[0].startswith("| metric |"), "docs/deployment.md: the metrics table moved"
    return {name for row in rows[2:] for name in _NAME.findall(row.split("|")[1])}


def exported(metrics_text: str) -> set[str]:
    """Family names of a Prometheus text exposition, without the standard collectors' and
    the ``_created`` samples prometheus_client adds to counters and histograms."""
    names = set()
    for name, kind in _TYPE.findall(metrics_text):
        if name.startswith(STANDARD) or (name.endswith("_created") and kind == "gauge"):
            continue
        names.add(name)
    return names


def test_the_table_is_read() -> None:
    names = documented()

    assert {"venta_http_requests_total", "venta_grpc_client_retries_total"} <= names
    assert "venta_http_request_duration_seconds" in names  # several names in one row


def test_every_exported_metric_is_documented(tmp_path: Path, processes: list[VentaProcess]) -> None:
    grpc_port, side_port, http_port, worker_port = (free_port() for _ in range(4))
    env = clean_env(
        VENTA_GRPC__IDENTITY_SECRET=secrets.token_hex(24),
        VENTA_GRPC__HOST="127.0.0.1",
        VENTA_GRPC__VENDOR_PORT=str(grpc_port),
        VENTA_GRPC__METRICS_PORT=str(side_port),
        VENTA_HTTP__PORT=str(http_port),
        VENTA_WORKER__PORT=str(worker_port),
        VENTA_LOG__LEVEL="WARNING",
    )
    endpoints = {
        "grpc": (["serve", "grpc", "--service", "vendor"], env, side_port),
        "all": (
            ["serve", "all"],
            {**env, "VENTA_SERVICES__VENDOR__ADDRESS": f"127.0.0.1:{grpc_port}"},
            http_port,
        ),
        "worker": (["serve", "worker"], env, worker_port),
    }
    texts = {}
    for name, (args, process_env, port) in endpoints.items():  # in order: migrations run once
        process = VentaProcess(name, args, process_env, tmp_path, tmp_path / f"{name}.log")
        processes.append(process.start())
        base = f"http://127.0.0.1:{port}"
        wait_until(
            f"{name} ready", lambda b=base: http_ok(f"{b}/ready"), START_TIMEOUT, watch=[process]
        )
        texts[name] = httpx.get(f"{base}/metrics", timeout=10).text

    found = {name: exported(text) for name, text in texts.items()}
    everything = set().union(*found.values())
    table = documented()

    for name, names in found.items():
        assert sorted(names - table) == [], f"{name}: exported, not in docs/deployment.md"
    assert sorted(table - everything) == [], "in docs/deployment.md, exported by no process"
    assert {"venta_grpc_server_handled_total", "venta_grpc_client_handled_total"} <= everything
    assert {"venta_ws_deliveries_total", "venta_worker_events_handled_total"} <= found["all"]
    assert "venta_outbox_relayed_total" in found["worker"]
