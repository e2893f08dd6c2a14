"""Image uploads: ``POST /v1/uploads/images`` (alias ``POST /upload/image``) and
``GET /v1/uploads/images/{name}``.

An upload is checked before the store sees it: the caller is authenticated, the file is at most
``uploads.max_bytes``, and its type is read from its first bytes (never trusted from the
client) and must be one of ``uploads.allowed_types``. The stored name is random.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Request, UploadFile, status
from fastapi.responses import Response

from venta_core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from venta_core.ports.uploads import (
    KEY_PATTERN,
    StoredUpload,
    UploadStore,
    new_key,
    sniff_image_type,
)
from venta_core.settings import UploadSettings
from venta_core.transports.http.deps import Authenticated, CurrentUser
from venta_core.transports.http.schemas import ErrorResponse, PublicModel, error_responses

__all__ = ["IMAGE_ROUTE_NAME", "UploadCreated", "create_router"]

logger = logging.getLogger("venta.http.uploads")

IMAGE_ROUTE_NAME = "get_uploaded_image"
_CHUNK = 64 * 1024
#: Declared types that say nothing about the content; the sniffed type is used instead.
_UNINFORMATIVE = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_SYNONYMS = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_SERVE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "public, max-age=31536000, immutable",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **error_responses(400, 401, 429, 500),
    413: {"model": ErrorResponse, "description": "PAYLOAD_TOO_LARGE: file over uploads.max_bytes"},
    415: {
        "model": ErrorResponse,
        "description": "UNSUPPORTED_MEDIA_TYPE: not an image of uploads.allowed_types, or its "
        "bytes do not match the declared type",
    },
}

ImageFile = Annotated[
    UploadFile, File(description="The image (multipart field `file`): JPEG, PNG, WebP or GIF.")
]


class UploadCreated(PublicModel):
    url: str


def create_router(store: UploadStore, settings: UploadSettings, base_url: str) -> APIRouter:
    """The upload routes, writing to ``store`` under the limits of ``settings``; the URLs of
    images the gateway serves itself start with ``base_url`` (``http.base_url``)."""
    router = APIRouter(tags=["uploads"])

    async def upload(request: Request, file: UploadFile, user_id: str) -> UploadCreated:
        data, content_type = await _checked_image(file, settings)
        stored = await store.put(new_key(content_type), data, content_type)
        extra = {"key": stored.key, "bytes": stored.size, "user_id": user_id, "store": store.name}
        logger.info("image stored", extra=extra)
        return UploadCreated(url=_public_url(request, stored, base_url))

    @router.post(
        "/v1/uploads/images",
        status_code=status.HTTP_201_CREATED,
        dependencies=[Authenticated],
        responses=_UPLOAD_ERRORS,
        summary="Upload an image (multipart field `file`) -> {url}",
    )
    async def upload_image(request: Request, file: ImageFile, user: CurrentUser) -> UploadCreated:
        return await upload(request, file, user.id)

    @router.post(
        "/upload/image",
        status_code=status.HTTP_201_CREATED,
        dependencies=[Authenticated],
        responses=_UPLOAD_ERRORS,
        tags=["seed aliases"],
        deprecated=True,
        summary="Alias of POST /v1/uploads/images",
    )
    async def seed_upload_image(
        request: Request, file: ImageFile, user: CurrentUser
    ) -> UploadCreated:
        return await upload(request, file, user.id)

    @router.get(
        "/v1/uploads/images/{name}",
        name=IMAGE_ROUTE_NAME,
        response_class=Response,
        responses={
            200: {"content": {t: {} for t in settings.allowed_types}, "description": "The image"},
            **error_responses(404, 429, 500),
        },
        summary="A stored image (public; names are unguessable)",
    )
    async def get_image(
        name: Annotated[
            str,
            Path(
                description="The name in the URL an upload answered; any other name: 404.",
                json_schema_extra={"pattern": KEY_PATTERN.pattern},
            ),
        ],
    ) -> Response:
        image = await store.get(name)
        if image is None:
            raise NotFound("No such image", details={"name": name[:100]})
        return Response(image.data, media_type=image.content_type, headers=_SERVE_HEADERS)

    return router


async def _checked_image(file: UploadFile, settings: UploadSettings) -> tuple[bytes, str]:
    """The file's bytes and sniffed type; raises 400, 413 or 415 envelopes."""
    data = await _read_limited(file, settings.max_bytes)
    if not data:
        errors = [{"field": "file", "message": "The file is empty"}]
        raise ValidationFailed("The uploaded file is empty", details={"errors": errors})
    sniffed = sniff_image_type(data[:16])
    allowed = settings.allowed_types
    if sniffed is None or sniffed not in allowed:
        raise UnsupportedMediaType(
            "Not an accepted image type", details={"detected": sniffed, "allowed": allowed}
        )
    declared = (file.content_type or "").split(";", 1)[0].strip().lower()
    declared = _SYNONYMS.get(declared, declared)
    if declared not in _UNINFORMATIVE and declared != sniffed:
        raise UnsupportedMediaType(
            "The file's content does not match its declared type",
            details={"declared": declared[:100], "detected": sniffed},
        )
    return data, sniffed


async def _read_limited(file: UploadFile, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge("The image is too large", details={"maxBytes": max_bytes})
        chunks.append(chunk)
    return b"".join(chunks)


def _public_url(request: Request, stored: StoredUpload, base_url: str) -> str:
    """The store's own URL, else the route's path under the configured base URL (never the
    client's ``Host`` header, which would let a client have links to any host handed out)."""
    if stored.url is not None:
        return stored.url
    path = request.app.url_path_for(IMAGE_ROUTE_NAME, name=stored.key)
    return f"{base_url}{path}"
