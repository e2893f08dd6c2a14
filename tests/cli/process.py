"""Run the real ``venta`` command in a child process, with exactly the variables a test gives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["VENTA", "closed_port", "command_env", "venta"]

VENTA = [sys.executable, "-m", "venta_cli.main"]


def command_env(**variables: str) -> dict[str, str]:
    """This environment without any ``VENTA_*`` variable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    return {**env, **variables}


def venta(
    *args: str, cwd: Path, timeout: float = 90, **variables: str
) -> subprocess.CompletedProcess[str]:
    """``venta ARGS`` in ``cwd`` (no ``.env`` there) with ``variables`` as its only settings."""
    return subprocess.run(
        [*VENTA, *args],
        cwd=cwd,
        env=command_env(**variables),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
