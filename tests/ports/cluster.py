"""A throwaway Redis Cluster for the tests: three primaries on free loopback ports.

Started from the ``redis-server`` and ``redis-cli`` binaries (skipped when they are missing,
failed under ``CI=true``), with a password so every test also proves that credentials in a
``redis+cluster://`` URL work. Nothing is saved to disk beyond the nodes' cluster config files in
a temporary directory; the processes are stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

#: Redis listens for its cluster bus on the client port plus this.
BUS_OFFSET = 10_000
START_TIMEOUT_S = 30.0


@dataclass
class LocalCluster:
    ports: list[int]
    password: str
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return f"redis+cluster://:{self.password}@{nodes}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, decode_responses=True)


def binary(name: str) -> str:
    """Path of ``name``: skips the test when it is missing, fails it under ``CI=true``."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not on PATH: tests against a real Redis Cluster cannot run"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI must run them)")
    pytest.skip(message)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """``n`` ports that are free together with their cluster bus ports."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in ports and _bindable(port + BUS_OFFSET):
            ports.append(port)
    return ports


def _wait(what: str, ready: Any, cluster: LocalCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        for proc in cluster.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({proc.returncode}):\n{_logs(cluster)}")
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {START_TIMEOUT_S} s:\n{_logs(cluster)}")
        time.sleep(0.05)


def _logs(cluster: LocalCluster) -> str:
    tails = []
    for log in sorted(cluster.directory.glob("*.log")):
        tails.append(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-20:]))
    return "\n".join(tails)


def _ping(cluster: LocalCluster, port: int) -> bool:
    with cluster.node(port) as client:
        return bool(client.ping())


def _state_ok(cluster: LocalCluster, port: int) -> bool:
    with cluster.node(port) as client:
        info = client.execute_command("CLUSTER INFO")
    if isinstance(info, dict):
        return str(info.get("cluster_state")) == "ok"
    return "cluster_state:ok" in str(info)


@contextmanager
def local_cluster(directory: Path, nodes: int = 3) -> Iterator[LocalCluster]:
    """A started cluster of ``nodes`` primaries (all 16384 slots assigned, state ok)."""
    server, cli = binary("redis-server"), binary("redis-cli")
    cluster = LocalCluster(free_ports(nodes), uuid.uuid4().hex, directory)
    try:
        for port in cluster.ports:
            args = [
                server,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--requirepass", cluster.password,
                "--masterauth", cluster.password,
                "--dir", str(directory),
                "--logfile", f"redis-{port}.log",
            ]  # fmt: skip
            cluster.processes.append(subprocess.Popen(args, cwd=directory))
        for port in cluster.ports:
            _wait(f"redis-server :{port}", lambda p=port: _ping(cluster, p), cluster)
        nodes = [f"127.0.0.1:{p}" for p in cluster.ports]
        create = subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            env={**os.environ, "REDISCLI_AUTH": cluster.password},  # not on the command line
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if create.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{create.stdout}{create.stderr}"
            )
        for port in cluster.ports:
            _wait(f"cluster state at :{port}", lambda p=port: _state_ok(cluster, p), cluster)
        yield cluster
    finally:
        for proc in cluster.processes:
            proc.terminate()
        for proc in cluster.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
