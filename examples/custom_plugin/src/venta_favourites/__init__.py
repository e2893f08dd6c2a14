"""venta-favourites: an example third-party venta plugin (see docs/plugins.md)."""

from __future__ import annotations

from venta_favourites.notify import LogNotifier, Notification, Notifier
from venta_favourites.openings import OpeningWatcher
from venta_favourites.plugin import FavouritesPlugin, FavouritesSettings
from venta_favourites.store import FavouriteStore

__all__ = [
    "FavouriteStore",
    "FavouritesPlugin",
    "FavouritesSettings",
    "LogNotifier",
    "Notification",
    "Notifier",
    "OpeningWatcher",
]
