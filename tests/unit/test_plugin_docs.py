"""docs/plugins.md documents every hook of venta_core/hookspecs.py, with its arguments and
whether the first result wins, and nothing that is not a hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy
import pytest

from venta_core import hookspecs

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(venta_\w+)\(([^)]*)\)`\s*$", re.MULTILINE)


def _specs() -> dict[str, pluggy.HookspecOpts]:
    pm = pluggy.PluginManager("venta")
    pm.add_hookspecs(hookspecs)
    specs: dict[str, pluggy.HookspecOpts] = {}
    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        if name.startswith("venta_") and caller.spec is not None:
            specs[name] = caller.spec.opts
    return specs


def _sections() -> dict[str, tuple[list[str], str]]:
    """Hook name -> (documented arguments, the text of its section)."""
    text = DOC.read_text()
    matches = list(HEADING.finditer(text))
    sections = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].split("\n## ", 1)[0]
        args = [a.strip() for a in match.group(2).split(",") if a.strip()]
        sections[match.group(1)] = (args, body)
    return sections


SPECS = _specs()


def test_the_hooks_were_found() -> None:
    assert {"venta_identity_provider", "venta_http_routers", "venta_startup"} <= set(SPECS)


def test_every_hook_is_documented_and_nothing_else() -> None:
    documented = set(_sections())

    assert sorted(set(SPECS) - documented) == [], "document these hooks in docs/plugins.md"
    assert sorted(documented - set(SPECS)) == [], "these are documented but are not hooks"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_arguments_and_first_result_match(name: str) -> None:
    args, body = _sections().get(name, ([], ""))
    signature = inspect.signature(getattr(hookspecs, name))

    assert args == list(signature.parameters), f"{name}: arguments differ from hookspecs.py"
    first_result = "first result wins" in body.lower()
    assert first_result == bool(SPECS[name].get("firstresult")), (
        f"{name}: say '*First result wins.*' exactly for firstresult hooks"
    )
    assert len(body.split()) >= 25, f"{name}: say what the hook is for and its contract"
