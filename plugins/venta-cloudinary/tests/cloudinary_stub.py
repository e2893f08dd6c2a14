"""A local stand-in for Cloudinary's upload API, served by uvicorn in a thread: ``POST
/v1_1/<cloud>/image/upload`` and ``POST /v1_1/<cloud>/image/destroy``, as the SDK sends them
(multipart form). It checks each request's signature with the SDK's own signing function
(``cloudinary.utils.api_sign_request``, the string-to-sign and hash Cloudinary specifies) and
keeps the images in memory. It can be told to lose the answers of uploads it stored (a proxy
in between failing)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import cloudinary.utils
import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from venta_core.app import Venta
from venta_core.ports.uploads import IMAGE_EXTENSIONS, sniff_image_type
from venta_core.testing import serving_in_thread

from venta_cloudinary import CloudinarySettings

CLOUD = "venta-test"
API_KEY = "123456789012345"
API_SECRET = "stand-in-secret-abcdef"  # a throwaway credential of the stand-in
#: Sent, but not signed (Cloudinary's rule).
_UNSIGNED = {"file", "api_key", "resource_type", "cloud_name", "signature"}


@dataclass
class Asset:
    data: bytes
    format: str
    version: int
    type: str


@dataclass
class CloudinaryStub:
    assets: dict[str, Asset] = field(default_factory=dict)  # public id -> asset
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why requests were refused
    lose_answers: int = 0  # the next n uploads are stored, and answered with a proxy's 502
    port: int = 0

    def _verify(self, cloud: str, params: dict[str, str]) -> str | None:
        """Why the request is refused, or ``None``."""
        if cloud != CLOUD:
            return "unknown cloud"
        if params.get("api_key") != API_KEY:
            return "unknown api_key"
        signed = {k: v for k, v in params.items() if k not in _UNSIGNED}
        expected = cloudinary.utils.api_sign_request(signed, API_SECRET)
        if not hmac.compare_digest(expected, params.get("signature", "")):
            return "Invalid Signature"
        if abs(time.time() - int(params.get("timestamp", "0"))) > 3600:
            return "Stale request"
        return None

    async def _form(self, request: Request) -> tuple[dict[str, str], bytes | None]:
        form = await request.form()
        params: dict[str, str] = {}
        data: bytes | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
            else:
                params[name] = value
        return params, data

    def _refuse(self, reason: str) -> JSONResponse:
        self.refused.append(reason)
        return JSONResponse({"error": {"message": reason}}, status_code=401)

    async def upload(self, request: Request) -> Response:
        params, data = await self._form(request)
        self.calls.append(("upload", params))
        reason = self._verify(request.path_params["cloud"], params)
        if reason is not None:
            return self._refuse(reason)
        sniffed = sniff_image_type((data or b"")[:16])
        if sniffed is None:
            return JSONResponse({"error": {"message": "Invalid image file"}}, status_code=400)
        public_id = params["public_id"]
        kind = params.get("type", "upload")
        asset = self.assets.get(public_id)
        if asset is None or params.get("overwrite") != "0":
            asset = Asset(data or b"", IMAGE_EXTENSIONS[sniffed], int(time.time()), kind)
            self.assets[public_id] = asset
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return Response("<html>502 Bad Gateway</html>", status_code=502)
        return JSONResponse(
            {
                "public_id": public_id,
                "version": asset.version,
                "format": asset.format,
                "resource_type": "image",
                "type": asset.type,
                "bytes": len(asset.data),
                "secure_url": f"https://res.cloudinary.com/{CLOUD}/image/{asset.type}/"
                f"v{asset.version}/{public_id}.{asset.format}",
            }
        )

    async def destroy(self, request: Request) -> Response:
        params, _ = await self._form(request)
        self.calls.append(("destroy", params))
        reason = self._verify(request.path_params["cloud"], params)
        if reason is not None:
            return self._refuse(reason)
        found = self.assets.pop(params["public_id"], None)
        return JSONResponse({"result": "ok" if found is not None else "not found"})

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1_1/{cloud}/image/upload", self.upload, methods=["POST"]),
                Route("/v1_1/{cloud}/image/destroy", self.destroy, methods=["POST"]),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[CloudinaryStub]:
        with serving_in_thread(self.asgi(), "the Cloudinary stand-in") as port:
            self.port = port
            yield self

    @property
    def upload_prefix(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings_for(self, **overrides: Any) -> CloudinarySettings:
        values: dict[str, Any] = {
            "cloud_name": CLOUD,
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "upload_prefix": self.upload_prefix,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return CloudinarySettings(_env_file=None, **values)


#: ``async with make_app(...) as (app, client)``: the fixture type of conftest.make_app.
AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]
