"""Upload store port: keeps uploaded images and says where they can be fetched.

The gateway checks an upload (size, type by magic bytes) before it reaches a store, so a store
only ever sees an accepted image and a name venta chose: never the client's file name.

The built-in ``LocalDiskUploadStore`` (``ports/uploads_local.py``) writes to a directory that
the gateway serves; a plugin answering the ``venta_upload_store`` hook replaces it (venta-s3 for
S3-compatible buckets, venta-cloudinary; see docs/plugins.md).

Uploads are not tied to vendors: a client uploads, then sets the URL it got as a vendor's
``primaryImage``. When that URL stops being used (the vendor is deleted, or its image replaced),
the worker asks the store which of its keys the URL names (``key_for_url``) and deletes it,
unless another vendor still shows it (``venta_core.services.images``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from venta_core.errors import ServiceUnavailable

__all__ = [
    "IMAGE_EXTENSIONS",
    "KEY_PATTERN",
    "SERVED_PATH",
    "StoredImage",
    "StoredUpload",
    "UploadStore",
    "UploadStoreUnavailable",
    "gateway_key",
    "key_for_url",
    "new_key",
    "sniff_image_type",
    "url_path",
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
#: Where the gateway serves a store's images itself (``StoredUpload.url`` is ``None``).
SERVED_PATH = "/v1/uploads/images/"


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


class UploadStoreUnavailable(ServiceUnavailable):
    """The store failed or refused a call: ``503 SERVICE_UNAVAILABLE`` on the upload route, a
    retry for the worker."""

    default_message = "The image store is unavailable"


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

    def key_for_url(self, url: str) -> str | None:
        """The key of the image ``url`` names, when the URL is one this store gave out (or
        would give out); ``None`` for any other URL. Only what this answers is ever deleted
        when a vendor stops using an image.

        The default recognises nothing, so a store that does not implement it (or is not a
        subclass of this Protocol: see the module's ``key_for_url``) never loses an image.
        """
        return None


def key_for_url(store: UploadStore, url: str) -> str | None:
    """``store.key_for_url(url)``, for stores written before the method existed too (``None``),
    and only ever a key ``new_key`` could have made."""
    method = getattr(store, "key_for_url", None)
    key = method(url) if callable(method) else None
    return key if isinstance(key, str) and KEY_PATTERN.match(key) else None


def url_path(url: str) -> str | None:
    """The path of an absolute http(s) URL, or ``None`` for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return parts.path


def gateway_key(url: str) -> str | None:
    """The key in a URL of the gateway's own route, ``<any origin>[/prefix]/v1/uploads/images/
    <key>``: the URL the upload route answers when the store leaves serving to the gateway.

    Any origin is accepted because the gateway builds the URL from the request (host names,
    proxies and path prefixes differ between deployments); the key, 144 random bits, is what
    identifies the image.
    """
    path = url_path(url)
    if path is None:
        return None
    _, sep, key = path.rpartition(SERVED_PATH)
    if not sep or "/" in key or not KEY_PATTERN.match(key):
        return None
    return key
