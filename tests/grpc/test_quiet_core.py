"""gRPC's C core writes to stderr outside Python logging; venta quiets it (GRPC_VERBOSITY)
unless the user chose a level. Checked on a real run of the TLS tests, whose refused handshakes
make the C core log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: absl's line prefix: I1205 23:12:16.704675   18749 chttp2_transport.cc:1403] ...
C_CORE_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+\.cc:\d+\]", re.MULTILINE)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _run_tls_tests(**variables: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_VERBOSITY")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/grpc/test_tls.py"],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_grpc_core_lines_stay_out_of_the_output() -> None:
    output = _run_tls_tests()

    assert not C_CORE_LINE.search(output), output
    assert "absl::InitializeLog" not in output


def test_a_level_the_user_chose_is_kept() -> None:
    assert C_CORE_LINE.search(_run_tls_tests(GRPC_VERBOSITY="INFO"))
