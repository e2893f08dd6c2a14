"""``S3UploadStore``: venta's ``UploadStore`` on a bucket of any S3-compatible store.

Objects are written with ``put_object`` in one request (images are a few MiB at most, so no
multipart upload), under ``key_prefix + key``, with the sniffed ``Content-Type`` and the
configured ``Cache-Control`` (a key never changes content, so they are immutable). Clients
fetch them, depending on ``url_mode``:

- ``public``: from ``public_base_url`` + object key (a CDN, or the bucket's public URL);
- ``presigned``: from a GET URL signed at upload time, valid ``presigned_expiry_seconds``;
- ``proxy``: from the gateway (``GET /v1/uploads/images/{key}``), which reads the object.

Every failed call raises ``S3Unavailable`` (``SERVICE_UNAVAILABLE``): a 503 on the routes, a
retry for the worker. A ``put`` whose answer was lost (a timeout, a dropped connection) may
have stored the object all the same: the store deletes it again, so a refused upload leaves
nothing behind. Log lines name the operation, the S3 error code and message, never a
credential.

The client is aiobotocore's (botocore's S3 client on aiohttp), created at ``start`` (or at the
first call) and closed at ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from venta_core.ports.uploads import (
    IMAGE_EXTENSIONS,
    KEY_PATTERN,
    StoredImage,
    StoredUpload,
    UploadStore,
    UploadStoreUnavailable,
    gateway_key,
)

from venta_s3.settings import S3Settings

__all__ = ["S3Unavailable", "S3UploadStore"]

log = logging.getLogger("venta_s3")

#: What a call of the client raises when the store cannot be reached or refuses the call.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    BotoCoreError,
    ClientError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_TYPE_BY_EXTENSION = {ext: content_type for content_type, ext in IMAGE_EXTENSIONS.items()}


class S3Unavailable(UploadStoreUnavailable):
    """The bucket failed or refused a call."""


def _error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def _unavailable(operation: str, exc: BaseException) -> S3Unavailable:
    code = _error_code(exc)
    log.warning(
        "s3 %s failed: %s%s: %s",
        operation,
        type(exc).__name__,
        f" ({code})" if code else "",
        str(exc)[:300],
    )
    return S3Unavailable(details={"store": "s3", "operation": operation})


class S3UploadStore(UploadStore):
    name = "s3"

    def __init__(self, settings: S3Settings) -> None:
        if not settings.bucket:
            raise ValueError("S3UploadStore needs VENTA_S3_BUCKET")
        self.settings = settings
        self.bucket: str = settings.bucket
        self._context: AbstractAsyncContextManager[Any] | None = None
        self._client: Any = None
        self._opening: asyncio.Lock | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._connected()

    async def stop(self) -> None:
        context, self._context, self._client = self._context, None, None
        if context is not None:
            try:
                await context.__aexit__(None, None, None)
            except Exception:
                log.exception("closing the S3 client failed")

    async def _connected(self) -> Any:
        if self._client is not None:
            return self._client
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._client is None:
                context = get_session().create_client("s3", **self._client_options())
                self._client = await context.__aenter__()
                self._context = context
        return self._client

    def _client_options(self) -> dict[str, Any]:
        s = self.settings
        config = AioConfig(
            connect_timeout=s.connect_timeout_seconds,
            read_timeout=s.read_timeout_seconds,
            retries={"max_attempts": s.max_attempts, "mode": "standard"},
            s3={"addressing_style": s.addressing_style},
            signature_version="s3v4",
            # Checksums only where S3 requires them: several S3-compatible stores refuse the
            # newer default trailing checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        options: dict[str, Any] = {"config": config}
        if s.region:
            options["region_name"] = s.region
        if s.endpoint_url:
            options["endpoint_url"] = s.endpoint_url
        if s.access_key_id and s.secret_access_key is not None:
            options["aws_access_key_id"] = s.access_key_id
            options["aws_secret_access_key"] = s.secret_access_key.get_secret_value()
        return options

    # -- UploadStore ---------------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"not a store key: {key!r}")
        return self.settings.key_prefix + key

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        object_key = self.object_key(key)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": object_key,
            "Body": data,
            "ContentType": content_type,
            "CacheControl": self.settings.cache_control,
        }
        if self.settings.acl is not None:
            params["ACL"] = self.settings.acl
        try:
            client = await self._connected()
            await client.put_object(**params)
            url = await self._url_of(client, key, object_key)
        except CLIENT_ERRORS as exc:
            if _error_code(exc) is None:  # no answer: the object may be there all the same
                await self._forget(object_key)
            raise _unavailable("put", exc) from None
        return StoredUpload(key=key, content_type=content_type, size=len(data), url=url)

    async def _url_of(self, client: Any, key: str, object_key: str) -> str | None:
        mode = self.settings.mode
        if mode == "proxy":
            return None
        if mode == "public":
            return f"{self.settings.public_base_url}/{object_key}"
        url: str = await client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": object_key},
            ExpiresIn=self.settings.presigned_expiry_seconds,
        )
        return url

    async def _forget(self, object_key: str) -> None:
        try:
            client = await self._connected()
            await client.delete_object(Bucket=self.bucket, Key=object_key)
        except CLIENT_ERRORS as exc:
            log.warning("s3 clean-up of a failed put failed: %s", type(exc).__name__)

    async def get(self, key: str) -> StoredImage | None:
        """The object's bytes in ``proxy`` mode; ``None`` otherwise (clients read the bucket or
        the CDN) and for an unknown key."""
        if self.settings.mode != "proxy" or not KEY_PATTERN.match(key):
            return None
        try:
            client = await self._connected()
            answer = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            async with answer["Body"] as body:
                data: bytes = await body.read()
        except CLIENT_ERRORS as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise _unavailable("get", exc) from None
        content_type = _TYPE_BY_EXTENSION[key.rsplit(".", 1)[1]]
        return StoredImage(content_type=content_type, data=data)

    async def delete(self, key: str) -> bool:
        if not KEY_PATTERN.match(key):
            return False
        object_key = self.object_key(key)
        try:
            client = await self._connected()
            try:
                await client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND:
                    return False
                raise
            await client.delete_object(Bucket=self.bucket, Key=object_key)
        except CLIENT_ERRORS as exc:
            raise _unavailable("delete", exc) from None
        return True

    def key_for_url(self, url: str) -> str | None:
        """The key of a URL this store gives out in any mode: under ``public_base_url``, an
        object URL of the bucket (presigned or not; the bucket in the host name or in the
        path), or the gateway's own ``/v1/uploads/images/<key>``."""
        bare = url.strip().split("#", 1)[0].split("?", 1)[0]
        base = self.settings.public_base_url
        if base and bare.startswith(base + "/"):
            return self._key_of(unquote(bare[len(base) + 1 :]))
        try:
            parts = urlsplit(bare)
        except ValueError:
            return None
        if parts.scheme in {"http", "https"} and parts.hostname:
            path = unquote(parts.path).lstrip("/")
            if parts.hostname.startswith(self.bucket + "."):
                key = self._key_of(path)
                if key is not None:
                    return key
            if path.startswith(self.bucket + "/"):
                key = self._key_of(path[len(self.bucket) + 1 :])
                if key is not None:
                    return key
        return gateway_key(url)

    def _key_of(self, object_key: str) -> str | None:
        prefix = self.settings.key_prefix
        if not object_key.startswith(prefix):
            return None
        key = object_key[len(prefix) :]
        return key if KEY_PATTERN.match(key) else None
