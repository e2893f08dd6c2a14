"""The pluggy plugin: registered by the ``venta`` entry point as ``clerk``.

Settings are read from the environment when a hook first needs them, so installing the
package never breaks a process that does not configure it: without ``VENTA_CLERK_ISSUER`` the
built-in identity provider stays in place, and without ``VENTA_CLERK_WEBHOOK_SECRET`` the
webhook routes answer 503.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

from venta_clerk.settings import ClerkSettings, load_clerk_settings

if TYPE_CHECKING:
    from fastapi import APIRouter
    from venta_core.app import Venta
    from venta_core.ports.identity import IdentityProvider
    from venta_core.settings import Settings

__all__ = ["ClerkPlugin", "plugin"]

log = logging.getLogger("venta.clerk")


class ClerkPlugin:
    def __init__(self, settings: ClerkSettings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> ClerkSettings:
        if self._settings is None:
            self._settings = load_clerk_settings()
        return self._settings

    @hookimpl
    def venta_identity_provider(self, settings: Settings) -> IdentityProvider | None:
        if not self.settings.verifies_tokens:
            log.debug("VENTA_CLERK_ISSUER is unset: Clerk tokens are not verified")
            return None
        from venta_clerk.identity import ClerkIdentityProvider

        return ClerkIdentityProvider(self.settings)

    @hookimpl
    def venta_http_routers(self, app: Venta) -> list[APIRouter]:
        from venta_core.services.identities import DeletedIdentities
        from venta_core.services.webhooks import WebhookDeliveries

        from venta_clerk.webhooks import ClerkWebhookHandler, create_router

        handler = ClerkWebhookHandler(
            self.settings,
            app.users,
            WebhookDeliveries(app.database),
            DeletedIdentities(app.database),
        )
        return [create_router(handler)]


#: The instance the entry point registers.
plugin = ClerkPlugin()
