"""Upload store port: keeps uploaded images and says where they can be fetched.

The gateway checks an upload (size, type by magic bytes) before it reaches a store, so a store
only ever sees an accepted image and a name venta chose: never the client's file name.

The built-in ``LocalDiskUploadStore`` (``ports/uploads_local.py``) writes to a directory that
the gateway serves; a plugin answering the ``venta_upload_store`` hook replaces it (for example
with an S3-compatible bucket, see docs/plugins.md).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "IMAGE_EXTENSIONS",
    "KEY_PATTERN",
    "StoredImage",
    "StoredUpload",
    "UploadStore",
    "new_key",
    "sniff_image_type",
]

#: Image type -> the extension of stored names (the extension is part of the key).
IMAGE_EXTENSIONS: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}
#: Every key ``new_key`` makes matches this; anything else names no stored file.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{24}\.(jpg|png|webp|gif)$")


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes of a file announce, or ``None``.

    Only the signature is read: a file that starts right but is corrupt later is still
    stored, and clients only ever get it back with this type and ``nosniff``.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def new_key(content_type: str) -> str:
    """A random, unguessable name for a stored image: 144 bits, URL-safe, with its extension."""
    return f"{secrets.token_urlsafe(18)}.{IMAGE_EXTENSIONS[content_type]}"


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """What a store answers after keeping an image.

    ``url`` is where clients fetch it. ``None`` means the gateway serves it itself at
    ``GET /v1/uploads/images/{key}`` and builds the absolute URL from the request.
    """

    key: str
    content_type: str
    size: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A stored image read back for the gateway to serve."""

    content_type: str
    data: bytes


class UploadStore(Protocol):
    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        """Keep ``data`` under ``key`` (from ``new_key``); it is never overwritten later."""
        ...

    async def get(self, key: str) -> StoredImage | None:
        """The image for the gateway to serve, or ``None`` when unknown. A store whose files
        are served elsewhere (a bucket, a CDN) may always answer ``None``."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the image; ``False`` when there was none."""
        ...
