"""venta-clerk: Clerk session tokens as venta identities, and Clerk user webhooks.

Names are imported on first use: venta loads the entry point (``venta_clerk.plugin``) in every
process, ``venta db migrate`` included, and that must not pull in FastAPI or svix.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venta_clerk.identity import ClerkIdentityProvider
    from venta_clerk.jwks import JwksCache
    from venta_clerk.plugin import ClerkPlugin
    from venta_clerk.settings import ClerkSettings, load_clerk_settings
    from venta_clerk.webhooks import ClerkWebhookHandler

__all__ = [
    "ClerkIdentityProvider",
    "ClerkPlugin",
    "ClerkSettings",
    "ClerkWebhookHandler",
    "JwksCache",
    "load_clerk_settings",
]

_MODULES = {
    "ClerkIdentityProvider": "identity",
    "ClerkPlugin": "plugin",
    "ClerkSettings": "settings",
    "ClerkWebhookHandler": "webhooks",
    "JwksCache": "jwks",
    "load_clerk_settings": "settings",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
