"""POST /v1/uploads/images (alias POST /upload/image) and GET /v1/uploads/images/{name}."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.http.http_fakes import assert_error
from tests.uploads.conftest import stored_files
from tests.uploads.images import GIF, HTML, JPEG, SVG, WEBP, png
from venta_core.hookspecs import hookimpl
from venta_core.ports.uploads import StoredImage, StoredUpload

URL = "/v1/uploads/images"
NAME = re.compile(r"^http://venta\.test/v1/uploads/images/[A-Za-z0-9_-]{24}\.(png|jpg|webp|gif)$")


def files(data: bytes, content_type: str | None = "image/png", filename: str = "photo.png"):
    if content_type is None:
        return {"file": (filename, data)}
    return {"file": (filename, data, content_type)}


async def test_an_image_is_stored_and_served(client, alice, upload_dir: Path):
    image = png(4, 4)

    created = await client.post(URL, files=files(image), headers=alice)

    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert NAME.match(url), url
    served = await client.get(url)
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert "immutable" in served.headers["cache-control"]
    [path] = stored_files(upload_dir)
    assert path.name == url.rsplit("/", 1)[1]
    assert path.read_bytes() == image


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [(JPEG, "image/jpeg", "jpg"), (WEBP, "image/webp", "webp"), (JPEG, "image/jpg", "jpg")],
)
async def test_each_allowed_type(client, alice, data, content_type, extension):
    created = await client.post(URL, files=files(data, content_type), headers=alice)

    assert created.status_code == 201, created.text
    assert created.json()["url"].endswith("." + extension)
    served = await client.get(created.json()["url"])
    assert served.headers["content-type"] == {"jpg": "image/jpeg"}.get(extension, content_type)


async def test_the_seed_alias(client, alice):
    created = await client.post("/upload/image", files=files(png()), headers=alice)

    assert created.status_code == 201
    assert NAME.match(created.json()["url"])


async def test_authentication_is_required(client, upload_dir):
    response = await client.post(URL, files=files(png()))
    alias = await client.post("/upload/image", files=files(png()))

    assert_error(response, 401, "UNAUTHENTICATED")
    assert_error(alias, 401, "UNAUTHENTICATED")
    assert stored_files(upload_dir) == []


async def test_a_file_over_the_limit_is_413(make_client, alice, upload_dir):
    async with make_client(uploads={"max_bytes": 4096}) as (_, client):
        ok = await client.post(URL, files=files(png(padding=3000)), headers=alice)
        too_big = await client.post(URL, files=files(png(padding=5000)), headers=alice)

    assert ok.status_code == 201
    error = assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"maxBytes": 4096}
    assert len(stored_files(upload_dir)) == 1


async def test_the_default_limits_accept_a_two_mebibyte_image(make_client, alice):
    async with make_client(http={"max_body_bytes": 1_048_576}) as (_, client):
        response = await client.post(URL, files=files(png(padding=2 * 1024 * 1024)), headers=alice)

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (HTML, "image/png"),  # declared an image, is HTML
        (SVG, "image/svg+xml"),  # never accepted: scripts
        (b"GIF89a" + GIF[6:], "image/gif"),  # a real image type, not allowed by default
        (png(), "image/jpeg"),  # content and declared type disagree
        (b"\x89PNG", "image/png"),  # truncated signature
    ],
)
async def test_unsupported_or_mislabelled_files_are_415(
    client, alice, upload_dir, data, content_type
):
    response = await client.post(URL, files=files(data, content_type), headers=alice)

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert stored_files(upload_dir) == []


async def test_the_allowed_types_are_a_setting(make_client, alice):
    async with make_client(uploads={"allowed_types": ["image/gif"]}) as (_, client):
        gif = await client.post(URL, files=files(GIF, "image/gif"), headers=alice)
        png_now_refused = await client.post(URL, files=files(png()), headers=alice)

    assert gif.status_code == 201
    assert_error(png_now_refused, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_an_uninformative_declared_type_uses_the_sniffed_one(client, alice):
    octet = await client.post(URL, files=files(png(), "application/octet-stream"), headers=alice)
    undeclared = await client.post(URL, files=files(png(), None), headers=alice)

    assert octet.status_code == undeclared.status_code == 201
    assert octet.json()["url"].endswith(".png")


async def test_the_clients_file_name_is_never_used(client, alice, upload_dir):
    evil = "../../../etc/cron.d/evil.png"

    created = await client.post(URL, files=files(png(), filename=evil), headers=alice)

    assert created.status_code == 201
    assert "evil" not in created.json()["url"]
    [path] = stored_files(upload_dir)
    assert path.is_relative_to(upload_dir)
    assert "evil" not in str(path)


@pytest.mark.parametrize(
    "body",
    [
        {"files": {"other": ("a.png", png(), "image/png")}},
        {"data": {"file": "not a file"}},
        {"files": None},
    ],
)
async def test_a_missing_file_field_is_a_validation_error(client, alice, body):
    kwargs = {k: v for k, v in body.items() if v is not None}

    response = await client.post(URL, headers=alice, **kwargs)

    assert_error(response, 400, "VALIDATION_ERROR")


async def test_an_empty_file_is_a_validation_error(client, alice):
    assert_error(await client.post(URL, files=files(b""), headers=alice), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "name",
    [
        "AAAAAAAAAAAAAAAAAAAAAAAA.png",
        "..%2F..%2Fetc%2Fpasswd",
        "x.png",
        "AAAAAAAAAAAAAAAAAAAAAAAA.svg",
    ],
)
async def test_unknown_names_are_404(client, name):
    assert_error(await client.get(f"{URL}/{name}"), 404, "NOT_FOUND")


async def test_a_public_base_url_is_used_for_the_url(make_client, alice):
    async with make_client(uploads={"public_base_url": "https://cdn.venta.test/img/"}) as (_, c):
        created = await c.post(URL, files=files(png()), headers=alice)

    assert re.match(r"^https://cdn\.venta\.test/img/[A-Za-z0-9_-]{24}\.png$", created.json()["url"])


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({"public_url": "https://api.venta.example/"}, "https://api.venta.example"),
        ({"public_url": "https://example.org/venta"}, "https://example.org/venta"),
        ({"public_url": None, "host": "127.0.0.1", "port": 8123}, "http://127.0.0.1:8123"),
        ({"public_url": None, "host": "0.0.0.0", "port": 8000}, "http://localhost:8000"),
        ({"public_url": None, "host": "::1", "port": 8000}, "http://[::1]:8000"),
    ],
)
async def test_urls_come_from_the_configuration_never_from_the_host_header(
    make_client, alice, http, expected
):
    async with make_client(http=http) as (_, c):
        forged = {**alice, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        created = await c.post(URL, files=files(png()), headers=forged)
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert re.match(rf"^{re.escape(expected)}/v1/uploads/images/[A-Za-z0-9_-]{{24}}\.png$", url)


class MemoryStore:
    """A store a plugin might bring (say, an S3 bucket): it keeps bytes and names its URLs."""

    name = "memory"

    def __init__(self) -> None:
        self.items: dict[str, tuple[bytes, str]] = {}

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        self.items[key] = (data, content_type)
        return StoredUpload(key, content_type, len(data), url=f"https://bucket.example/{key}")

    async def get(self, key: str) -> StoredImage | None:
        return None  # served by the bucket, not the gateway

    async def delete(self, key: str) -> bool:
        return self.items.pop(key, None) is not None


class MemoryStorePlugin:
    def __init__(self) -> None:
        self.store = MemoryStore()

    @hookimpl
    def venta_upload_store(self, app: object) -> MemoryStore:
        return self.store


async def test_a_plugin_replaces_the_store(make_client, alice, upload_dir):
    plugin = MemoryStorePlugin()
    async with make_client(plugins=[plugin]) as (_, client):
        created = await client.post(URL, files=files(png()), headers=alice)
        url = created.json()["url"]
        served = await client.get(f"{URL}/{url.rsplit('/', 1)[1]}")

    assert created.status_code == 201
    assert url.startswith("https://bucket.example/")
    assert [data for data, _ in plugin.store.items.values()] == [png()]
    assert stored_files(upload_dir) == []
    assert served.status_code == 404


async def test_blocking_the_builtin_removes_the_routes(make_client, alice):
    blocked = ["venta_core.builtins.uploads"]
    async with make_client(plugins_blocked=blocked) as (_, client):
        response = await client.post(URL, files=files(png()), headers=alice)

    assert response.status_code == 404


async def test_the_routes_are_documented(client):
    paths = (await client.get("/openapi.json")).json()["paths"]

    post = paths[URL]["post"]
    assert set(post["responses"]) >= {"201", "400", "401", "413", "415", "429"}
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert paths["/upload/image"]["post"]["deprecated"] is True
    assert "get" in paths[URL + "/{name}"]
