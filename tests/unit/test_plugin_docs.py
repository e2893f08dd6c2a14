"""docs/plugins.md documents every hook of venta_core/hookspecs.py, with its arguments,
whether the first result wins and a complete example, and nothing that is not a hook."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pluggy
import pytest

from venta_core import hookspecs
from venta_core.plugins import create_plugin_manager
from venta_core.settings import Settings

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


BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _implementations(code: str, name: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions named ``name`` marked ``@hookimpl`` in ``code``."""
    return [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name == name
        and any("hookimpl" in ast.unparse(d) for d in node.decorator_list)
    ]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_a_complete_example(name: str) -> None:
    """Each section shows a plugin implementing the hook with the specification's argument
    names; a block that imports only what is installed runs, and its ``plugin`` registers
    (pluggy refuses an unknown hook or argument)."""
    _, body = _sections()[name]
    blocks = BLOCK.findall(body)
    implemented = [block for block in blocks if _implementations(block, name)]
    assert implemented, f"{name}: add a Python example implementing the hook"
    spec_args = set(inspect.signature(getattr(hookspecs, name)).parameters)
    for block in implemented:
        for function in _implementations(block, name):
            args = {a.arg for a in function.args.args} - {"self"}
            assert args <= spec_args, f"{name}: the example takes {sorted(args - spec_args)}"
        namespace: dict[str, object] = {"__name__": f"plugins_doc_{name}"}
        try:
            exec(compile(block, f"{DOC}:{name}", "exec"), namespace)
        except ModuleNotFoundError as exc:  # a package of the example's own (venta_favourites)
            assert not str(exc.name).startswith("venta_core"), exc
            continue
        if "plugin" in namespace:
            settings = Settings(_env_file=None)
            pm = create_plugin_manager(
                settings, extra=[namespace["plugin"]], load_entry_points=False
            )
            assert pm.get_hookcallers(namespace["plugin"]), f"{name}: the plugin implements nothing"
