"""``CloudinaryUploadStore``: venta's ``UploadStore`` on Cloudinary, the image host of the
system venta replaces.

An image of key ``<24 random characters>.<ext>`` is uploaded with the public id
``<folder>/<24 random characters>`` (never overwritten), and clients fetch it from Cloudinary's
CDN: ``https://res.cloudinary.com/<cloud>/image/<type>/[s--<signature>--/]v<version>/<folder>/
<key>``. With ``delivery_type=authenticated`` only signed URLs deliver the image.

The calls go through the official SDK (``cloudinary.uploader``): it builds the parameters,
signs them with the API secret and maps Cloudinary's errors. Its upload API is synchronous
(urllib3), so each call runs in a worker thread (``asyncio.to_thread``); uploads are rare next
to reads, which the CDN serves. Every option is passed per call, never through the SDK's
process-wide ``cloudinary.config()``.

Every failed call raises ``CloudinaryUnavailable`` (``SERVICE_UNAVAILABLE``). An upload whose
answer was lost (no answer, or one that is not Cloudinary's) may have been stored anyway: the
store destroys it again, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils
from venta_core.ports.uploads import (
    KEY_PATTERN,
    StoredImage,
    StoredUpload,
    UploadStore,
    UploadStoreUnavailable,
)

from venta_cloudinary.settings import CloudinarySettings

__all__ = ["CloudinaryUnavailable", "CloudinaryUploadStore"]

log = logging.getLogger("venta_cloudinary")


class CloudinaryUnavailable(UploadStoreUnavailable):
    """Cloudinary failed or refused a call."""


def _unavailable(operation: str, exc: BaseException) -> CloudinaryUnavailable:
    # The SDK's messages carry Cloudinary's answer, never the secret or the signature.
    log.warning("cloudinary %s failed: %s: %s", operation, type(exc).__name__, str(exc)[:300])
    return CloudinaryUnavailable(details={"store": "cloudinary", "operation": operation})


def _answer_lost(exc: BaseException) -> bool:
    """A failure without Cloudinary's verdict (network, timeout, an answer not its own), after
    which the upload may have happened all the same. Its refusals are subclasses."""
    return type(exc) is cloudinary.exceptions.Error or not isinstance(
        exc, cloudinary.exceptions.Error
    )


class CloudinaryUploadStore(UploadStore):
    name = "cloudinary"

    def __init__(self, settings: CloudinarySettings) -> None:
        if not (settings.cloud_name and settings.api_key and settings.api_secret):
            raise ValueError("CloudinaryUploadStore needs a cloud name, API key and secret")
        self.settings = settings
        self.cloud_name: str = settings.cloud_name
        probe, _ = cloudinary.utils.cloudinary_url("probe", **self._delivery(False))
        self._delivery_prefix = str(probe).removesuffix("probe").split("://", 1)[1]

    def _api(self) -> dict[str, Any]:
        """Options of an API call: credentials, endpoint, timeout."""
        s = self.settings
        assert s.api_secret is not None
        options: dict[str, Any] = {
            "cloud_name": self.cloud_name,
            "api_key": s.api_key,
            "api_secret": s.api_secret.get_secret_value(),
            "resource_type": "image",
            "type": s.delivery_type,
            "timeout": s.timeout_seconds,
        }
        if s.upload_prefix:
            options["upload_prefix"] = s.upload_prefix
        return options

    def _delivery(self, signed: bool) -> dict[str, Any]:
        """Options of a delivery URL."""
        s = self.settings
        options: dict[str, Any] = {
            "cloud_name": self.cloud_name,
            "resource_type": "image",
            "type": s.delivery_type,
            "secure": True,
            "sign_url": signed,
            "force_version": False,
        }
        if signed:
            assert s.api_secret is not None
            options["api_secret"] = s.api_secret.get_secret_value()
        if s.secure_distribution:
            options["secure_distribution"] = s.secure_distribution
            options["private_cdn"] = True
        return options

    def public_id(self, key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"not a store key: {key!r}")
        stem = key.rsplit(".", 1)[0]
        return f"{self.settings.folder}/{stem}" if self.settings.folder else stem

    def url_of(self, key: str, version: int | str | None) -> str:
        public_id = self.public_id(key)
        options = self._delivery(self.settings.signed_delivery)
        url, _ = cloudinary.utils.cloudinary_url(
            public_id, format=key.rsplit(".", 1)[1], version=version, **options
        )
        return str(url)

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        public_id = self.public_id(key)
        try:
            result = await asyncio.to_thread(
                cloudinary.uploader.upload,
                (key, data),
                public_id=public_id,
                overwrite=False,
                unique_filename=False,
                use_filename=False,
                **self._api(),
            )
        except Exception as exc:
            if _answer_lost(exc):
                await self._forget(public_id)
            raise _unavailable("upload", exc) from None
        url = self.url_of(key, result.get("version"))
        return StoredUpload(key=key, content_type=content_type, size=len(data), url=url)

    async def _forget(self, public_id: str) -> None:
        try:
            await asyncio.to_thread(cloudinary.uploader.destroy, public_id, **self._api())
        except Exception as exc:
            log.warning("cloudinary clean-up of a failed upload failed: %s", type(exc).__name__)

    async def get(self, key: str) -> StoredImage | None:
        """Always ``None``: Cloudinary's CDN serves the images."""
        return None

    async def delete(self, key: str) -> bool:
        if not KEY_PATTERN.match(key):
            return False
        try:
            result = await asyncio.to_thread(
                cloudinary.uploader.destroy, self.public_id(key), invalidate=True, **self._api()
            )
        except Exception as exc:
            raise _unavailable("destroy", exc) from None
        outcome = result.get("result") if isinstance(result, dict) else None
        if outcome == "ok":
            return True
        if outcome == "not found":
            return False
        raise _unavailable("destroy", ValueError(f"unexpected answer {str(outcome)[:50]!r}"))

    def key_for_url(self, url: str) -> str | None:
        """The key of a delivery URL of this cloud, type and folder (http or https, signed or
        not, with or without a version or transformations)."""
        bare = url.strip().split("#", 1)[0].split("?", 1)[0]
        scheme, sep, rest = bare.partition("://")
        if not sep or scheme.lower() not in {"http", "https"}:
            return None
        if not rest.startswith(self._delivery_prefix):
            return None
        parts = rest[len(self._delivery_prefix) :].split("/")
        folder = self.settings.folder.split("/") if self.settings.folder else []
        if len(parts) < len(folder) + 1 or parts[-1 - len(folder) : -1] != folder:
            return None
        key = parts[-1]
        return key if KEY_PATTERN.match(key) else None
