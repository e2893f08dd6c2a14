"""Ports come from plugins: each port has a *first result wins* hook, and the first plugin that
answers it provides the port.

The built-ins (``venta_core.builtins``) answer these hooks ``trylast``, so any other plugin that
answers replaces them. venta asks the implementations one at a time, in pluggy's order
(``tryfirst`` ones, then the last registered first, ``trylast`` ones last), rather than through
the hook caller, so that it knows *which* plugin answered: ``Venta.providers`` records it and
``venta plugins list`` shows it. Hook wrappers are therefore not supported on port hooks; to
wrap a port, answer its hook and build on what the other plugins answer
(``first_answer(..., skip=[self])``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pluggy

from venta_core.settings import SettingsError

__all__ = ["PORT_HOOKS", "Answer", "MissingPort", "exclusive_answer", "first_answer", "require"]

#: Every port hook, in the order a ``Venta`` builds its ports, and what it provides.
PORT_HOOKS: dict[str, str] = {
    "venta_identity_provider": "identity provider",
    "venta_geo_index": "geo index",
    "venta_key_value_store": "key-value store",
    "venta_presence_store": "presence store",
    "venta_event_bus": "event bus",
    "venta_event_stream": "event stream",
    "venta_search_index": "search index",
    "venta_upload_store": "upload store",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """A port and the name of the plugin that provided it."""

    value: Any
    plugin: str


class MissingPort(SettingsError):
    """No plugin answers a port's hook (its built-in is blocked, or answers only when a URL is
    set). ``str()`` is one line, like every configuration error."""

    def __init__(self, hook: str, blocked: Collection[str]) -> None:
        self.hook = hook
        port = PORT_HOOKS.get(hook, hook)
        message = f"no plugin provides the {port} (hook {hook})"
        if blocked:
            message += f"; VENTA_PLUGINS_BLOCKED blocks {', '.join(sorted(blocked))}"
        super().__init__(message)


def first_answer(
    pm: pluggy.PluginManager, hook: str, *, skip: Collection[object] = (), **kwargs: Any
) -> Answer | None:
    """Ask ``hook``'s implementations in pluggy's call order, passing over the plugins in
    ``skip``; the first answer that is not ``None`` and its plugin's name."""
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            raise TypeError(f"{impl.plugin_name} wraps {hook}: port hooks cannot be wrapped")
        if any(impl.plugin is plugin for plugin in skip):
            continue
        value = impl.function(*(kwargs[name] for name in impl.argnames))
        if value is not None:
            return Answer(value, impl.plugin_name)
    return None


def require(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> Answer:
    """``first_answer``, or ``MissingPort`` when no plugin answers."""
    answer = first_answer(pm, hook, **kwargs)
    if answer is None:
        blocked = [name for name, plugin in pm.list_name_plugin() if plugin is None]
        raise MissingPort(hook, blocked)
    return answer


def exclusive_answer(caller: pluggy.HookCaller, **kwargs: Any) -> Answer | None:
    """The one answer to a port hook, asking every implementation: stricter than
    ``first_answer`` for ports where two configured providers are a mistake (the upload
    store), because with entry points which one is registered last, and would win, depends on
    how the packages were installed.

    Implementations marked ``trylast`` (the built-ins) are fallbacks: asked, in pluggy's order,
    only when no other implementation answers. Of the others at most one may answer (not
    ``None``); two answers raise ``SettingsError`` naming both plugins, so that an operator
    chooses (unsets one's settings, or blocks it with ``VENTA_PLUGINS_BLOCKED``).
    """
    what = PORT_HOOKS.get(caller.name, caller.name)
    impls = [i for i in reversed(caller.get_hookimpls()) if not (i.wrapper or i.hookwrapper)]
    answers: list[Answer] = []
    for impl in (i for i in impls if not i.trylast):
        value = impl.function(*(kwargs[name] for name in impl.argnames))
        if value is not None:
            answers.append(Answer(value, impl.plugin_name))
    if len(answers) > 1:
        named = " and ".join(
            f"{getattr(a.value, 'name', type(a.value).__name__)!r} (plugin {a.plugin})"
            for a in answers
        )
        raise SettingsError(
            f"{len(answers)} plugins provide the {what}: {named}; configure only one, or block "
            f"the others with VENTA_PLUGINS_BLOCKED (for example "
            f"VENTA_PLUGINS_BLOCKED={answers[-1].plugin})"
        )
    if answers:
        return answers[0]
    for impl in (i for i in impls if i.trylast):
        value = impl.function(*(kwargs[name] for name in impl.argnames))
        if value is not None:
            return Answer(value, impl.plugin_name)
    return None
