"""``venta version`` and ``venta --version``: the version of venta and of each installed plugin
(every distribution with an entry point in the ``venta`` group, blocked or not)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["plugin_distributions", "version_text"]


def _own_version() -> str:
    try:
        return metadata.version("venta")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def plugin_distributions() -> list[tuple[str, str]]:
    """(distribution name, version) of each installed plugin, sorted by name."""
    from venta_core.plugins import ENTRY_POINT_GROUP

    found = {
        ep.dist.name: ep.dist.version
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None
    }
    return sorted(found.items())


def version_text() -> str:
    lines = [f"venta {_own_version()}"]
    plugins = plugin_distributions()
    lines.append("plugins:" if plugins else "plugins: none")
    lines.extend(f"  {name} {version}" for name, version in plugins)
    return "\n".join(lines)
