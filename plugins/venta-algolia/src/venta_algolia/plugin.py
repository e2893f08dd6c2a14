"""The venta plugin: answers ``venta_search_index`` with ``AlgoliaSearchIndex`` when
``VENTA_ALGOLIA_APP_ID`` and ``VENTA_ALGOLIA_API_KEY`` are set, and with ``None`` otherwise, so
the built-in database index stays. The built-in search sync then feeds Algolia, and
``GET /v1/search/vendors`` reads from it.

With the Algolia index in place, ``venta_event_handlers`` adds ``algolia-geoloc``: the built-in
index reads positions from the database, Algolia learns them from ``vendor.moved``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

from venta_algolia.index import AlgoliaSearchIndex
from venta_algolia.moves import geoloc_handler
from venta_algolia.settings import AlgoliaSettings

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.events import EventHandler
    from venta_core.ports.search import SearchIndex

__all__ = ["AlgoliaPlugin", "plugin"]


class AlgoliaPlugin:
    def __init__(self, settings: AlgoliaSettings | None = None) -> None:
        self._settings = settings  # None: read from the environment when first needed

    @property
    def settings(self) -> AlgoliaSettings:
        if self._settings is None:
            self._settings = AlgoliaSettings()
        return self._settings

    @hookimpl
    def venta_search_index(self, app: Venta) -> SearchIndex | None:
        settings = self.settings
        settings.check()  # one credential without the other stops the process
        if not settings.configured:
            return None
        return AlgoliaSearchIndex(settings, kv=app.kv)

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler] | None:
        """``algolia-geoloc`` when the application's search index is this plugin's."""
        index = getattr(app, "search_index", None)
        if not isinstance(index, AlgoliaSearchIndex):
            return None
        return [geoloc_handler(index)]


plugin = AlgoliaPlugin()
