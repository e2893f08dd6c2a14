"""Built-in image uploads: a local-disk store (replaceable through ``venta_upload_store``), the
upload routes, which use whichever store the plugins chose, and the worker's handlers deleting
the images vendors give up (``venta_core.services.images``): ``image-cleanup`` on
``image.released``, which the vendor and user services write beside the ``vendor.updated``
or ``vendor.deleted`` that gave an image up. Its consumer gets only those events from the
stream (a filter on one subject), not every profile update.

Imports happen inside the hooks so that registering the built-ins (every CLI command does)
never pulls in FastAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from venta_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from fastapi import APIRouter

    from venta_core.app import Venta
    from venta_core.events import EventEnvelope, EventHandler
    from venta_core.ports.uploads import UploadStore
    from venta_core.transports import VentaApp

__all__ = ["IMAGE_CLEANUP", "upload_store_of"]

IMAGE_CLEANUP = "image-cleanup"
#: Images the clean-up handler deletes at the same time from a batch of events.
RELEASES_AT_ONCE = 16


@hookimpl(trylast=True)
def venta_upload_store(app: VentaApp) -> UploadStore | None:
    from venta_core.ports.uploads_local import LocalDiskUploadStore

    return LocalDiskUploadStore(app.settings.uploads)


def upload_store_of(app: Any) -> UploadStore | None:
    """The application's store: ``Venta.upload_store``, chosen once when it was built (the
    one plugin store answering, else the built-in one). An application object without that
    attribute (a transport's structural ``VentaApp``) asks the hook the same way."""
    from venta_core.providers import exclusive_answer

    if hasattr(app, "upload_store"):
        store: UploadStore | None = app.upload_store
        return store
    answer = exclusive_answer(app.hook.venta_upload_store, app=app)
    return answer.value if answer is not None else None


@hookimpl
def venta_http_routers(app: VentaApp) -> list[APIRouter] | None:
    from venta_core.transports.http.routers.uploads import create_router

    store = upload_store_of(app)
    if store is None:  # every store plugin blocked, built-in included: no upload routes
        return None
    return [create_router(store, app.settings.uploads, app.settings.http.base_url)]


@hookimpl
def venta_event_handlers(app: Venta) -> list[EventHandler] | None:
    """The image clean-up handler, unless turned off (``uploads.delete_unused_images``) or
    no store is configured."""
    store = upload_store_of(app)
    if store is None or not app.settings.uploads.delete_unused_images:
        return None
    from venta_core.events import EventHandler, ImageReleasedData, PoisonEvent
    from venta_core.services.images import ImageReleases

    images = ImageReleases(app.database, store)

    def url_of(envelope: EventEnvelope) -> str:
        from pydantic import ValidationError

        try:
            payload = envelope.payload()
        except ValidationError as exc:
            raise PoisonEvent(f"{envelope.type}: {exc.errors()[0]['msg']}") from None
        if not isinstance(payload, ImageReleasedData):
            raise PoisonEvent(f"{envelope.type}: not an image.released payload")
        return payload.url

    async def handle(envelope: EventEnvelope) -> None:
        await images.release(url_of(envelope))

    async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
        """Each image of the batch released once, a few at a time. Any failure fails the
        batch (then handled event by event; releasing twice is harmless)."""
        room = asyncio.Semaphore(RELEASES_AT_ONCE)

        async def release(url: str) -> None:
            async with room:
                await images.release(url)

        urls = {url_of(e) for e in envelopes}
        results = await asyncio.gather(*map(release, urls), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    return [EventHandler(IMAGE_CLEANUP, {"image.released"}, handle, handle_batch=handle_batch)]
