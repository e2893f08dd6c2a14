"""The plugin manager: one per application, built-ins first, then entry points of group
``venta``; ``settings.plugins_blocked`` disables any of them by name.

Provider hooks (``firstresult``) take the first answer. ``exclusive_provider`` is the stricter
way to ask one: it refuses two plugins answering at once, because with entry points which one
is registered last (and would win) depends on how the packages were installed."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import pluggy

from venta_core import hookspecs
from venta_core.settings import Settings, SettingsError

__all__ = [
    "BUILTIN_PLUGINS",
    "PluginInfo",
    "await_maybe",
    "create_plugin_manager",
    "describe",
    "exclusive_provider",
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


def exclusive_provider(caller: pluggy.HookCaller, what: str, **kwargs: Any) -> Any:
    """The one answer to a provider hook, asking every implementation.

    Implementations marked ``trylast`` (the built-ins) are fallbacks: asked, in pluggy's order,
    only when no other implementation answers. Of the others at most one may answer (not
    ``None``); two answers raise ``SettingsError`` naming both plugins, so that an operator
    chooses (unsets one's settings, or blocks it with ``VENTA_PLUGINS_BLOCKED``).
    """
    impls = [i for i in reversed(caller.get_hookimpls()) if not (i.wrapper or i.hookwrapper)]
    answers: list[tuple[str, Any]] = []
    for impl in (i for i in impls if not i.trylast):
        answer = impl.function(*(kwargs[name] for name in impl.argnames))
        if answer is not None:
            answers.append((impl.plugin_name, answer))
    if len(answers) > 1:
        named = " and ".join(
            f"{getattr(answer, 'name', type(answer).__name__)!r} (plugin {plugin})"
            for plugin, answer in answers
        )
        raise SettingsError(
            f"{len(answers)} plugins provide the {what}: {named}; configure only one, or block "
            f"the others with VENTA_PLUGINS_BLOCKED (for example "
            f"VENTA_PLUGINS_BLOCKED={answers[-1][0]})"
        )
    if answers:
        return answers[0][1]
    for impl in (i for i in impls if i.trylast):
        answer = impl.function(*(kwargs[name] for name in impl.argnames))
        if answer is not None:
            return answer
    return None


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
