"""The built-in upload store: files in a local directory, served by the gateway.

Files are spread over 256 sub-directories by the first two characters of their random key, so
no single directory grows huge. A file is written to a temporary name and renamed into place,
so a reader never sees half an image. Several gateway processes may share the directory (a
volume): keys are random, so they never collide. A write the file system refuses (disk full,
permissions) leaves nothing behind and raises ``UploadStoreUnavailable`` (503).

Its URLs are the gateway's own ``.../v1/uploads/images/<key>``, or ``uploads.public_base_url``
followed by the key: ``key_for_url`` recognises both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from venta_core.ports.uploads import (
    IMAGE_EXTENSIONS,
    KEY_PATTERN,
    StoredImage,
    StoredUpload,
    UploadStoreUnavailable,
    gateway_key,
)
from venta_core.settings import UploadSettings

__all__ = ["LocalDiskUploadStore"]

log = logging.getLogger("venta.uploads")

_TYPE_BY_EXTENSION = {ext: content_type for content_type, ext in IMAGE_EXTENSIONS.items()}


class LocalDiskUploadStore:
    name = "local"

    def __init__(self, settings: UploadSettings) -> None:
        self.root = Path(settings.dir)
        base = settings.public_base_url
        self.public_base_url = base.rstrip("/") if base else None

    def path_of(self, key: str) -> Path | None:
        """Where ``key`` lives, or ``None`` for a key this store never makes (no traversal)."""
        if not KEY_PATTERN.match(key):
            return None
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        path = self.path_of(key)
        if path is None:
            raise ValueError(f"not a store key: {key!r}")
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            log.warning("writing an image failed: %s: %s", type(exc).__name__, exc.strerror)
            raise UploadStoreUnavailable(details={"store": self.name}) from None
        url = f"{self.public_base_url}/{key}" if self.public_base_url else None
        return StoredUpload(key=key, content_type=content_type, size=len(data), url=url)

    async def get(self, key: str) -> StoredImage | None:
        path = self.path_of(key)
        if path is None:
            return None
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredImage(content_type=_TYPE_BY_EXTENSION[key.rsplit(".", 1)[1]], data=data)

    async def delete(self, key: str) -> bool:
        path = self.path_of(key)
        if path is None:
            return False
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("deleting an image failed: %s: %s", type(exc).__name__, exc.strerror)
            raise UploadStoreUnavailable(details={"store": self.name}) from None
        return True

    def key_for_url(self, url: str) -> str | None:
        if self.public_base_url is not None and url.startswith(self.public_base_url + "/"):
            key = url[len(self.public_base_url) + 1 :].split("?", 1)[0].split("#", 1)[0]
            return key if KEY_PATTERN.match(key) else None
        return gateway_key(url)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server in front may need to read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
