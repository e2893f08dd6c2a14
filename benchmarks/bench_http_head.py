"""Throughput of ``GET /health`` on the gateway with bounded request heads, against uvicorn's
own httptools protocol, in the same run.

Two servers serve the same gateway application (embedded backends, in a temporary directory),
one with ``transports.listener``'s bounded protocol and one with plain ``httptools``. wrk
loads each in turn, alternating, and the script prints requests per second and the ratio
bounded/plain (1.00: no cost).

    python benchmarks/bench_http_head.py                    # 3 rounds of 8 s, 32 connections
    python benchmarks/bench_http_head.py --rounds 5 --seconds 10 --connections 64

Needs ``wrk`` on the PATH (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from venta_core.app import Venta
from venta_core.runner import bind_socket
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app
from venta_core.transports.listener import HeadLimits, http_config


def _start(http: str, sock: socket.socket, app: object) -> None:
    """Serve ``app`` on ``sock`` in a thread (uvloop, as ``venta serve``) until the process
    ends."""
    config = http_config(app, HeadLimits())
    if http == "httptools":
        config.http = "httptools"
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit(f"the {http} server did not start")
        time.sleep(0.05)


def _wrk(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/health"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="venta-bench-"))
    settings = embedded_settings(tmp / "venta.db", rate_limit={"enabled": False})
    venta = Venta(settings, load_entry_points=False)
    ports = {}
    for name in ("bounded", "httptools"):
        sock = bind_socket("127.0.0.1", 0)
        ports[name] = sock.getsockname()[1]
        _start(name, sock, create_http_app(venta))
    time.sleep(0.5)
    results: dict[str, list[float]] = {"bounded": [], "httptools": []}
    for _ in range(args.rounds):
        for name in ("httptools", "bounded"):
            results[name].append(_wrk(ports[name], args.seconds, args.connections))
    plain = statistics.median(results["httptools"])
    bounded = statistics.median(results["bounded"])
    print(f"GET /health, wrk -c{args.connections}, {args.rounds} x {args.seconds} s each")
    print(f"  httptools (plain uvicorn)  {plain:9.0f} req/s  {results['httptools']}")
    print(f"  bounded request head       {bounded:9.0f} req/s  {results['bounded']}")
    print(f"  bounded/plain              {bounded / plain:9.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
