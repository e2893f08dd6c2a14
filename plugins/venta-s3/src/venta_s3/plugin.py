"""The venta plugin: answers ``venta_upload_store`` with ``S3UploadStore`` when
``VENTA_S3_BUCKET`` is set, and with ``None`` otherwise, so the built-in local store (or another
store plugin) stays. The upload routes, their checks and limits, and the worker's
image clean-up handlers then use the bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

from venta_s3.settings import S3Settings, load_s3_settings
from venta_s3.store import S3UploadStore

if TYPE_CHECKING:
    from venta_core.app import Venta

__all__ = ["S3Plugin", "plugin"]


class S3Plugin:
    def __init__(self, settings: S3Settings | None = None) -> None:
        self._settings = settings  # None: read from the environment when first needed

    @property
    def settings(self) -> S3Settings:
        if self._settings is None:
            self._settings = load_s3_settings()
        return self._settings

    @hookimpl
    def venta_upload_store(self, app: Venta) -> S3UploadStore | None:
        settings = self.settings
        settings.check()
        if not settings.configured:
            return None
        return S3UploadStore(settings)


plugin = S3Plugin()
