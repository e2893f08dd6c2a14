"""``venta_core.__all__`` is the public API: every name imports, docs/library.md names each, and
importing venta_core does not load the runner's and the ASGI helpers' web stack until used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import venta_core

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


@pytest.mark.parametrize("name", venta_core.__all__)
def test_every_public_name_imports_and_is_documented(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from venta_core import {name}", namespace)

    assert namespace[name] is getattr(venta_core, name)
    assert f"`{name}`" in DOC.read_text(), f"docs/library.md does not mention {name}"


def test_each_public_name_is_listed_once() -> None:
    assert len(venta_core.__all__) == len(set(venta_core.__all__))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = venta_core.Nothing  # type: ignore[attr-defined]


def test_the_web_stack_loads_only_when_the_runner_or_asgi_helpers_are_used() -> None:
    script = (
        "import sys\n"
        "import venta_core\n"
        "before = {'uvicorn', 'starlette'} & {m.split('.')[0] for m in sys.modules}\n"
        "from venta_core import mount, serve\n"
        "after = {'uvicorn', 'starlette'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(before), sorted(after))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "[] ['starlette', 'uvicorn']"
