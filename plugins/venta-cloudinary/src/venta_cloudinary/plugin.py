"""The venta plugin: answers ``venta_upload_store`` with ``CloudinaryUploadStore`` when
``VENTA_CLOUDINARY_CLOUD_NAME`` is set (with the API key and secret), and with ``None``
otherwise, so the built-in local store (or another store plugin) stays. The upload routes,
their checks and limits, and the worker's image clean-up handlers then use Cloudinary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

from venta_cloudinary.settings import CloudinarySettings, load_cloudinary_settings
from venta_cloudinary.store import CloudinaryUploadStore

if TYPE_CHECKING:
    from venta_core.app import Venta

__all__ = ["CloudinaryPlugin", "plugin"]


class CloudinaryPlugin:
    def __init__(self, settings: CloudinarySettings | None = None) -> None:
        self._settings = settings  # None: read from the environment when first needed

    @property
    def settings(self) -> CloudinarySettings:
        if self._settings is None:
            self._settings = load_cloudinary_settings()
        return self._settings

    @hookimpl
    def venta_upload_store(self, app: Venta) -> CloudinaryUploadStore | None:
        settings = self.settings
        settings.check()
        if not settings.configured:
            return None
        return CloudinaryUploadStore(settings)


plugin = CloudinaryPlugin()
