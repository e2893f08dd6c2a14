"""The plugin manager: one per application, built-ins first, then entry points of group
``venta``; ``settings.plugins_blocked`` disables any of them by name.

Provider hooks (``firstresult``) take the first answer; how ports are asked for, and which
plugin answered, is ``venta_core.providers``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from venta_core import hookspecs
from venta_core.settings import Settings

if TYPE_CHECKING:
    from venta_core.store.branches import PluginMigrations

__all__ = [
    "BUILTIN_PLUGINS",
    "PluginInfo",
    "await_maybe",
    "create_plugin_manager",
    "describe",
    "schema_migrations",
]

ENTRY_POINT_GROUP = "venta"


def _builtin_modules() -> tuple[str, ...]:
    """Every module of ``venta_core.builtins``: built-in behaviour, registered through the same
    hooks as third-party plugins so any of it can be replaced or blocked."""
    import pkgutil

    from venta_core import builtins

    return tuple(
        f"{builtins.__name__}.{m.name}"
        for m in sorted(pkgutil.iter_modules(builtins.__path__), key=lambda m: m.name)
        if not m.name.startswith("_")
    )


BUILTIN_PLUGINS: tuple[str, ...] = _builtin_modules()

T = TypeVar("T")


async def await_maybe(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


def create_plugin_manager(
    settings: Settings, *, extra: Iterable[object] = (), load_entry_points: bool = True
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("venta")
    pm.add_hookspecs(hookspecs)
    for name in settings.plugins_blocked:
        pm.set_blocked(name)
    for module_name in BUILTIN_PLUGINS:
        if not pm.is_blocked(module_name):
            module = __import__(module_name, fromlist=["_"])
            pm.register(module, name=module_name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    version: str | None
    source: str  # "built-in", "entry point (<distribution>)" or "registered"
    hooks: tuple[str, ...]
    blocked: bool = False


def describe(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """What is loaded, from where, and which hooks each plugin implements."""
    dists: dict[int, Any] = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos: list[PluginInfo] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            infos.append(PluginInfo(name, None, "blocked", (), blocked=True))
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        dist = dists.get(id(plugin))
        if name in BUILTIN_PLUGINS:
            infos.append(PluginInfo(name, _own_version(), "built-in", hooks))
        elif dist is not None:
            source = f"entry point ({dist.project_name})"
            infos.append(PluginInfo(name, dist.version, source, hooks))
        else:
            infos.append(PluginInfo(name, None, "registered", hooks))
    return infos


def _own_version() -> str | None:
    try:
        return metadata.version("venta")
    except metadata.PackageNotFoundError:
        return None


def schema_migrations(
    settings: Settings, pm: pluggy.PluginManager | None = None
) -> list[PluginMigrations]:
    """The plugin migrations the schema holds: those of the installed plugins (entry points of
    group ``venta``, minus ``VENTA_PLUGINS_BLOCKED``), and of ``pm``'s (plugins passed in).

    The schema follows the installed packages, not the plugins one process chose to load: a
    script or test built with ``load_entry_points=False`` migrates and checks the same database
    as ``venta serve`` and ``venta db migrate`` do.
    """
    from venta_core.store.migrate import plugin_migrations

    installed = create_plugin_manager(settings)
    return plugin_migrations(*([pm] if pm is not None else []), installed, settings=settings)
