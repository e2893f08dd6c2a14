"""The plugin object the ``favourites`` entry point registers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.hookspecs import hookimpl

from venta_favourites.notify import LogNotifier, Notifier
from venta_favourites.openings import EVENT_TYPES, OpeningWatcher
from venta_favourites.realtime import PresenceLog
from venta_favourites.store import FavouriteStore

if TYPE_CHECKING:
    from fastapi import APIRouter
    from venta_core import PluginMigrations, RealtimeHandler
    from venta_core.app import Venta
    from venta_core.events import EventHandler
    from venta_core.settings import Settings

__all__ = ["FavouritesPlugin", "FavouritesSettings", "plugin"]


class FavouritesSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VENTA_FAVOURITES_", env_file=".env", extra="ignore"
    )

    max_per_user: int = Field(100, ge=1, description="Favourites one user may keep.")


class FavouritesPlugin:
    def __init__(
        self, settings: FavouritesSettings | None = None, notifier: Notifier | None = None
    ) -> None:
        self._settings = settings
        self.notifier: Notifier = notifier or LogNotifier()
        self._store: FavouriteStore | None = None
        self._watcher: OpeningWatcher | None = None
        self.presence = PresenceLog()

    @property
    def settings(self) -> FavouritesSettings:
        if self._settings is None:
            self._settings = FavouritesSettings()
        return self._settings

    @property
    def store(self) -> FavouriteStore:
        """The store of the application the plugin was last built into."""
        if self._store is None:
            raise RuntimeError("the plugin is not part of an application yet")
        return self._store

    def bind(self, app: Venta) -> FavouriteStore:
        """The store on ``app``'s database (and the watcher using it)."""
        if self._store is None or self._store.database is not app.database:
            self._store = FavouriteStore(app.database, self.settings.max_per_user)
            self._watcher = OpeningWatcher(self._store, self.notifier)
        return self._store

    @property
    def watcher(self) -> OpeningWatcher:
        if self._watcher is None:
            raise RuntimeError("the plugin is not part of an application yet")
        return self._watcher

    @hookimpl
    def venta_migrations(self, settings: Settings) -> PluginMigrations:
        from venta_core import PluginMigrations

        from venta_favourites.tables import metadata

        return PluginMigrations("favourites", Path(__file__).with_name("migrations"), metadata)

    @hookimpl
    def venta_http_routers(self, app: Venta) -> list[APIRouter]:
        from venta_favourites.router import create_router

        return [create_router(self.bind(app))]

    @hookimpl
    def venta_event_handlers(self, app: Venta) -> list[EventHandler]:
        from venta_core.events import EventHandler

        self.bind(app)
        # concurrency=1: one event at a time, in stream order (retries aside).
        return [EventHandler("favourites-openings", EVENT_TYPES, self.watcher.handle, 1)]

    @hookimpl
    def venta_realtime_handlers(self, app: Venta) -> list[RealtimeHandler[Any]]:
        from venta_favourites.realtime import favourite_vendor_handler

        return [favourite_vendor_handler(app, self.bind(app))]

    @hookimpl
    def venta_vendor_presence(self, app: Venta, vendor_id: str, online: bool) -> None:
        self.presence.seen(vendor_id, online)

    @hookimpl
    def venta_cli_commands(self, cli: typer.Typer) -> None:
        group = typer.Typer(help="The favourites plugin.", no_args_is_help=True)

        @group.command("settings")
        def show_settings() -> None:
            """Print the plugin's settings."""
            for name, value in self.settings.model_dump().items():
                typer.echo(f"VENTA_FAVOURITES_{name.upper()}={value}")

        cli.add_typer(group, name="favourites")


#: The instance the entry point registers.
plugin = FavouritesPlugin()
