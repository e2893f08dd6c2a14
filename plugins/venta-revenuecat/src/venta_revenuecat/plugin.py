"""The pluggy plugin: registered by the ``venta`` entry point as ``revenuecat``. Settings are
read when the routes are built; without ``VENTA_REVENUECAT_WEBHOOK_AUTH`` the routes answer
503, so installing the package never breaks a process that does not use it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

from venta_revenuecat.settings import RevenueCatSettings, load_revenuecat_settings

if TYPE_CHECKING:
    from fastapi import APIRouter
    from venta_core.app import Venta

__all__ = ["RevenueCatPlugin", "plugin"]


class RevenueCatPlugin:
    def __init__(self, settings: RevenueCatSettings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> RevenueCatSettings:
        if self._settings is None:
            self._settings = load_revenuecat_settings()
        return self._settings

    @hookimpl
    def venta_http_routers(self, app: Venta) -> list[APIRouter]:
        from venta_core.services.identities import DeletedIdentities
        from venta_core.services.webhooks import WebhookDeliveries

        from venta_revenuecat.handler import RevenueCatHandler
        from venta_revenuecat.router import create_router

        handler = RevenueCatHandler(
            self.settings,
            app.users,
            WebhookDeliveries(app.database),
            DeletedIdentities(app.database),
        )
        return [create_router(handler)]


#: The instance the entry point registers.
plugin = RevenueCatPlugin()
