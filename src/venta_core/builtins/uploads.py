"""Built-in image uploads: a local-disk store (replaceable through ``venta_upload_store``) and
the upload routes, which use whichever store the plugins chose.

Imports happen inside the hooks so that registering the built-ins (every CLI command does)
never pulls in FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venta_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from fastapi import APIRouter

    from venta_core.ports.uploads import UploadStore
    from venta_core.transports import VentaApp


@hookimpl(trylast=True)
def venta_upload_store(app: VentaApp) -> UploadStore | None:
    from venta_core.ports.uploads_local import LocalDiskUploadStore

    return LocalDiskUploadStore(app.settings.uploads)


@hookimpl
def venta_http_routers(app: VentaApp) -> list[APIRouter] | None:
    from venta_core.transports.http.routers.uploads import create_router

    store: UploadStore | None = app.hook.venta_upload_store(app=app)
    if store is None:  # every store plugin blocked, built-in included: no upload routes
        return None
    return [create_router(store, app.settings.uploads, app.settings.http.base_url)]
