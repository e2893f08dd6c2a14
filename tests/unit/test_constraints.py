"""constraints.txt pins every dependency the pyprojects name, each pin allowed by them, and the
libraries whose internals the real-time fan-out relies on are bounded above.

The pyprojects: venta's own (its dependencies and every extra), each plugin's of plugins/ and
the example plugin's. The local projects themselves are never pinned: they are installed from
the checkout.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECTS = [
    ROOT / "pyproject.toml",
    *sorted((ROOT / "plugins").glob("*/pyproject.toml")),
    *sorted((ROOT / "examples").glob("*/pyproject.toml")),
]
#: Libraries the direct websocket writes depend on beyond their public API (docs/realtime.md).
FAST_PATH_LIBRARIES = ("uvicorn", "python-engineio", "python-socketio", "websockets")


def _project(pyproject: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(pyproject.read_text())["project"]
    return project


@cache
def local_projects() -> frozenset[NormalizedName]:
    return frozenset(canonicalize_name(str(_project(p)["name"])) for p in PYPROJECTS)


@cache
def requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for every dependency of every pyproject, extras included, except
    the local projects themselves (``venta[test]`` in the dev extra, ``venta`` in plugins)."""
    found = []
    for pyproject in PYPROJECTS:
        project = _project(pyproject)
        where = str(pyproject.relative_to(ROOT))
        named = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            named += extra
        for text in named:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) not in local_projects():
                found.append((where, requirement))
    return found


@cache
def pins() -> dict[NormalizedName, Version]:
    pinned: dict[NormalizedName, Version] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"constraints.txt:{number}: pin with ==, not {line!r}"
        assert not requirement.extras and not requirement.marker and not requirement.url, line
        name = canonicalize_name(requirement.name)
        assert name not in pinned, f"constraints.txt:{number}: {name} pinned twice"
        pinned[name] = Version(specifier.version)
    return pinned


def test_the_pyprojects_are_read() -> None:
    # The checks below are only as good as this list.
    names = {canonicalize_name(r.name) for _, r in requirements()}

    assert {"fastapi", "pytest", "mypy", "svix", "uvicorn"} <= names
    assert len(PYPROJECTS) == 8 and all(p.is_file() for p in PYPROJECTS)


@pytest.mark.parametrize(
    ("where", "requirement"), requirements(), ids=[f"{w}:{r.name}" for w, r in requirements()]
)
def test_every_dependency_is_pinned_to_a_version_its_pyproject_allows(
    where: str, requirement: Requirement
) -> None:
    name = canonicalize_name(requirement.name)

    assert name in pins(), f"{where}: {requirement} is not pinned in constraints.txt"
    pinned = pins()[name]
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"{where}: {requirement} does not allow the pinned {name}=={pinned}"
    )


def test_the_local_projects_are_not_pinned() -> None:
    assert sorted(local_projects() & set(pins())) == []


@pytest.mark.parametrize("library", FAST_PATH_LIBRARIES)
def test_the_fast_path_libraries_are_bounded_above(library: str) -> None:
    (requirement,) = [
        r for where, r in requirements() if where == "pyproject.toml" and r.name == library
    ]
    upper = [s for s in requirement.specifier if s.operator in {"<", "<="}]

    assert upper, f"pyproject.toml: bound {requirement} above (docs/realtime.md)"


def test_the_stubs_are_generated_for_the_oldest_grpcio_allowed() -> None:
    """The build hook's grpcio-tools writes stubs that refuse an older grpcio at import; the
    build environment is resolved afresh (constraints.txt does not reach it), so the hook pins
    exactly the oldest grpcio the project allows, and every allowed grpcio imports them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (tools,) = [
        Requirement(r) for r in project["tool"]["hatch"]["build"]["hooks"]["custom"]["dependencies"]
    ]
    (grpcio,) = [
        Requirement(r)
        for r in project["project"]["dependencies"]
        if Requirement(r).name == "grpcio"
    ]
    (pinned,) = [spec for spec in tools.specifier if spec.operator == "=="]
    (floor,) = [spec for spec in grpcio.specifier if spec.operator == ">="]

    assert tools.name == "grpcio-tools" and len(tools.specifier) == 1
    assert pinned.version == floor.version
