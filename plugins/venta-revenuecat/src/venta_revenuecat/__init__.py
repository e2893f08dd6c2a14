"""venta-revenuecat: RevenueCat webhooks -> subscription status.

Names are imported on first use: venta loads the entry point (``venta_revenuecat.plugin``) in
every process, ``venta db migrate`` included, and that must stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venta_revenuecat.events import RevenueCatEvent, RevenueCatWebhook, status_for
    from venta_revenuecat.handler import RevenueCatHandler
    from venta_revenuecat.plugin import RevenueCatPlugin
    from venta_revenuecat.settings import RevenueCatSettings, load_revenuecat_settings

__all__ = [
    "RevenueCatEvent",
    "RevenueCatHandler",
    "RevenueCatPlugin",
    "RevenueCatSettings",
    "RevenueCatWebhook",
    "load_revenuecat_settings",
    "status_for",
]

_MODULES = {
    "RevenueCatEvent": "events",
    "RevenueCatHandler": "handler",
    "RevenueCatPlugin": "plugin",
    "RevenueCatSettings": "settings",
    "RevenueCatWebhook": "events",
    "load_revenuecat_settings": "settings",
    "status_for": "events",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
