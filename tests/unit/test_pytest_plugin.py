"""``venta_core.testing`` loads only where a test suite asks for it.

Each case runs a real ``pytest`` in a fresh directory outside this project (no ini file, no
conftest of ours), in this environment, where venta is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: Passes only when the plugin was not imported at all, so none of its fixtures exist.
UNRELATED = """
import sys


def test_venta_fixtures_are_absent(request):
    assert "venta_core.testing" not in sys.modules
    assert not request.config.pluginmanager.has_plugin("venta_core.testing")
"""

#: Uses two of the plugin's fixtures.
USES_FIXTURES = """
def test_venta_fixtures_are_there(venta_settings, venta_token):
    assert venta_settings.is_sqlite
    assert venta_token("alice").count(".") == 2
"""


def _pytest(directory: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VENTA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "unrelated"
    directory.mkdir()
    return directory


def test_an_unrelated_pytest_run_does_not_load_it(project: Path) -> None:
    (project / "test_unrelated.py").write_text(UNRELATED)

    code, output = _pytest(project)

    assert code == 0, output
    assert re.search(r"^1 passed in [0-9.]+s$", output, re.MULTILINE), output


def test_its_fixtures_are_unknown_unless_asked_for(project: Path) -> None:
    (project / "test_uses.py").write_text(USES_FIXTURES)

    code, output = _pytest(project)

    assert code == 1, output
    assert "fixture 'venta_settings' not found" in output
    assert re.search(r"^1 error in [0-9.]+s$", output, re.MULTILINE), output


def test_dash_p_loads_it(project: Path) -> None:
    (project / "test_uses.py").write_text(USES_FIXTURES)

    code, output = _pytest(project, "-p", "venta_core.testing")

    assert code == 0, output
    assert re.search(r"^1 passed in [0-9.]+s$", output, re.MULTILINE), output


def test_a_conftest_loads_it(project: Path) -> None:
    (project / "conftest.py").write_text('pytest_plugins = ["venta_core.testing"]\n')
    (project / "test_uses.py").write_text(USES_FIXTURES)

    code, output = _pytest(project)

    assert code == 0, output
    assert re.search(r"^1 passed in [0-9.]+s$", output, re.MULTILINE), output
