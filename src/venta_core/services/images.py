"""Images given up by vendors: deleted from the upload store once no vendor shows them.

A client uploads an image, gets its URL, and sets it as a vendor's ``primaryImage``; the upload
itself knows nothing of vendors. So the image is released from the other end: when a vendor is
deleted or its image replaced or removed, the change writes an ``image.released`` event with the
URL, and the worker calls ``release`` with it.

``release`` deletes only an image that

1. the configured store recognises as its own (``UploadStore.key_for_url``): a URL of another
   site, or of a store no longer configured, is left alone;
2. no vendor shows any more: the vendors table is read *when the event is handled*, after the
   change committed, so a URL another vendor copied, or that this vendor took back in a later
   change, keeps its image, whatever order events arrive in.

Deleting is idempotent (an image already gone is not an error), so redelivered events are
harmless. The worker may run in another process than the gateway that stored the image or the
vendor service that deleted the vendor: it only needs the database and the same store settings.
"""

from __future__ import annotations

import logging

from venta_core.ports.uploads import UploadStore, key_for_url
from venta_core.store import vendors as rows
from venta_core.store.engine import Database

__all__ = ["ImageReleases"]

log = logging.getLogger("venta.uploads")


class ImageReleases:
    def __init__(self, db: Database, store: UploadStore) -> None:
        self._db = db
        self._store = store

    async def release(self, url: str) -> bool:
        """Delete the image ``url`` names if it is the store's and no vendor shows it; whether
        an image was deleted. Raises what the store raises (``UploadStoreUnavailable``)."""
        key = key_for_url(self._store, url)
        if key is None:
            return False
        async with self._db.connect() as conn:
            if await rows.image_in_use(conn, key):
                log.info("image kept: another vendor shows it", extra={"key": key})
                return False
        deleted = await self._store.delete(key)
        if deleted:
            log.info("unused image deleted", extra={"key": key, "store": self._store.name})
        return deleted
