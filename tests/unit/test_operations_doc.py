"""docs/operations.md and the local-stack docs agree with the code and with each other.

Every `venta` command the runbook tells an operator to type exists with the options it shows,
every VENTA_* variable it names is a setting, every link resolves to a file and a heading, and
README.md and docs/deployment.md lead to the runbook and to `docker compose up`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.core import TyperGroup

from tests.unit.deployment import COMMAND as VENTA
from tests.unit.deployment import (
    CORE_VARIABLES,
    PLUGIN_PROJECTS,
    ROOT,
    VARIABLE,
    plugin_prefix,
    plugin_variables,
)
from tests.unit.markdown import anchor, headings, links

OPERATIONS = ROOT / "docs" / "operations.md"
DEPLOYMENT = ROOT / "docs" / "deployment.md"
README = ROOT / "README.md"
COMPOSE = ROOT / "compose.yaml"
DOCS = [OPERATIONS, DEPLOYMENT, README]
#: Upper-case names that look like settings and are not: the dead-letter stream's default name.
NOT_SETTINGS = {"VENTA_DLQ"}
#: `venta` followed by words: a command line as the runbook shows it.
_COMMAND = re.compile(r"(?<![\w/.-])venta ((?:[a-z][a-z-]*)(?: [^`\n|]*)?)")


def _commands(path: Path) -> list[str]:
    """Every `venta ...` command line in code spans and code blocks."""
    text = path.read_text()
    code = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL) + re.findall(r"`([^`\n]+)`", text)
    found = []
    for snippet in code:
        for line in snippet.splitlines():
            found += [m.group(1).split("#")[0].strip() for m in _COMMAND.finditer(line)]
    return found


@pytest.mark.parametrize("line", sorted(set(_commands(OPERATIONS))))
def test_every_venta_command_of_the_runbook_exists_with_its_options(line: str) -> None:
    words = shlex.split(line.replace("...", ""))
    command = VENTA
    while isinstance(command, TyperGroup) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    if isinstance(command, TyperGroup):
        assert not words, f"`venta {line}`: not a command"
        return  # a group named in prose ("the `venta events` commands")
    known = {opt for param in command.params for opt in param.opts}
    for word in words:
        if word.startswith("-"):
            assert word.split("=")[0] in known, f"`venta {line}`: no option {word}"


def test_the_runbook_names_the_commands_an_operator_needs() -> None:
    shown = {" ".join(c.split()[:2]) for c in _commands(OPERATIONS)}

    assert {
        "db current",
        "db migrate",
        "events dead-letters",
        "events replay",
        "search reindex",
        "token issue",
    } <= shown


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_venta_variable_named_is_a_setting(path: Path) -> None:
    named = set(VARIABLE.findall(path.read_text())) - NOT_SETTINGS
    for project in PLUGIN_PROJECTS:
        mine = {n for n in named if n.startswith(plugin_prefix(project))}
        assert sorted(mine - set(plugin_variables(project))) == []
        named -= mine

    assert sorted(named - set(CORE_VARIABLES)) == []


@pytest.mark.parametrize("path", [OPERATIONS, DEPLOYMENT], ids=lambda p: p.name)
def test_every_link_reaches_a_file_and_a_heading(path: Path) -> None:
    for target in links(path):
        if re.match(r"^[a-z]+://", target):
            continue
        file, _, fragment = target.partition("#")
        document = (path.parent / file).resolve() if file else path
        assert document.exists(), f"{path.name}: {target} (no such file)"
        if fragment:
            assert fragment in headings(document), f"{path.name}: {target} (no such heading)"


def test_the_runbook_covers_backups_rotation_upgrades_and_sizing() -> None:
    sections = set(headings(OPERATIONS).values())

    assert {
        "Backups and restore",
        "PostgreSQL",
        "JetStream",
        "Rotating secrets",
        "VENTA_AUTH__DEV_SECRET",
        "VENTA_GRPC__IDENTITY_SECRET",
        "VENTA_CLERK_WEBHOOK_SECRET",
        "VENTA_REVENUECAT_WEBHOOK_AUTH",
        "Upgrading",
        "Sizing",
    } <= sections
    text = OPERATIONS.read_text()
    for words in ("pg_dump", "pg_basebackup", "recovery_target_time", "nats stream backup"):
        assert words in text
    assert "[performance](performance.md)" in text


def test_readme_and_deployment_guide_lead_to_the_runbook_and_the_local_stack() -> None:
    readme = README.read_text()
    deployment = DEPLOYMENT.read_text()
    docs_list = readme.split("\n## Documentation\n", 1)[1]

    assert "[docs/operations.md](docs/operations.md)" in docs_list
    assert "(operations.md" in deployment
    for text in (readme, deployment):
        assert "docker compose up" in text
        assert "docker compose --profile dev up all" in text


def test_the_local_stack_section_names_every_service() -> None:
    section = DEPLOYMENT.read_text().split("\n## Local stack\n", 1)[1].split("\n## ", 1)[0]
    services = yaml.safe_load(COMPOSE.read_text())["services"]

    assert anchor("Local stack") in headings(DEPLOYMENT)
    for name in services:
        assert f"`{name}`" in section, f"docs/deployment.md, Local stack: describe {name}"
