"""Unknown ``VENTA_*`` variables: a misspelt setting is reported, not silently ignored.

pydantic-settings ignores variables that name no setting, so ``VENTA_HTTP__PROT=9000`` leaves
the port at 8000 without a word. At start each command looks at the environment and the
``.env`` file for ``VENTA_*`` names that are no setting and warns, naming the closest real one.

Not every ``VENTA_*`` variable is venta's: plugins read their own settings under
``VENTA_<ENTRY POINT NAME>_`` (``VENTA_CLERK_ISSUER`` for the ``clerk`` entry point), and the
test suite reads ``VENTA_TEST_*``; those prefixes are left alone. Deprecated names are reported
with their replacement.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from venta_cli.config import env_name, settings_fields

__all__ = ["DEPRECATED", "foreign_prefixes", "setting_names", "unknown_variable_warnings"]

#: Deprecated variable -> what to use instead (it still works).
DEPRECATED = {"VENTA_LOG__JSON_FORMAT": "VENTA_LOG__FORMAT=json (or text, or auto)"}

_PREFIX = "VENTA_"


def setting_names() -> tuple[set[str], set[str]]:
    """(every leaf setting's variable, every group's variable such as ``VENTA_HTTP``)."""
    leaves: set[str] = set()
    groups: set[str] = set()
    for path, _field in settings_fields():
        leaves.add(env_name(path))
        groups.update(env_name(path[:i]) for i in range(1, len(path)))
    return leaves, groups


def foreign_prefixes() -> tuple[str, ...]:
    """Prefixes read by others: the tests, and each installed plugin (by entry-point name)."""
    from venta_core.plugins import ENTRY_POINT_GROUP

    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    plugins = (f"{_PREFIX}{name.upper().replace('-', '_')}_" for name in sorted(names))
    return (f"{_PREFIX}TEST_", *plugins)


def _env_file_names(path: Path) -> list[str]:
    if not path.is_file():
        return []
    from dotenv import dotenv_values

    return [name for name in dotenv_values(path) if name]


def unknown_variable_warnings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    prefixes: Iterable[str] | None = None,
) -> list[str]:
    """One sentence per ``VENTA_*`` name (environment, then ``env_file``) that is no setting."""
    environ = os.environ if environ is None else environ
    names = [*environ, *(_env_file_names(env_file) if env_file is not None else [])]
    leaves, groups = setting_names()
    foreign = tuple(foreign_prefixes() if prefixes is None else prefixes)
    found: list[str] = []
    for given in dict.fromkeys(names):
        name = given.upper()  # settings are read case-insensitively
        if not name.startswith(_PREFIX) or name.startswith(foreign):
            continue
        if name in DEPRECATED:
            found.append(f"{given} is deprecated; use {DEPRECATED[name]}")
        elif name not in leaves and name not in groups:
            close = difflib.get_close_matches(name, sorted(leaves), n=1, cutoff=0.75)
            guess = f"; did you mean {close[0]}?" if close else " (`venta config show` lists them)"
            found.append(f"{given} is not a venta setting and is ignored{guess}")
    return found
