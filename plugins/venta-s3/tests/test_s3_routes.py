"""The S3 store behind venta's real upload route and worker, against moto's S3 server: the
object in the bucket, each URL mode, deletion of images vendors give up, failures as 503."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.ports.uploads import KEY_PATTERN
from venta_core.testing import closed_port

from s3_server import SECRET_KEY, AppFactory, MotoServer

Bearer = Callable[[str], dict[str, str]]

# A 2x1 PNG (signature, IHDR, IDAT, IEND): what the gateway's sniffing accepts.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000010806000000f478d4fa"
    "0000000d49444154789c63f8cfc0f01f0005000201b3c1b6b30000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


async def upload(client: httpx.AsyncClient, headers: dict[str, str], data: bytes = PNG) -> Any:
    return await client.post(
        "/v1/uploads/images", files={"file": ("photo.png", data, "image/png")}, headers=headers
    )


def key_of(url: str) -> str:
    key = urlsplit(url).path.rsplit("/", 1)[1]
    assert KEY_PATTERN.match(key), url
    return key


def objects(moto: MotoServer, bucket: str) -> list[str]:
    listed = moto.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def test_an_upload_is_stored_in_the_bucket_with_its_type_and_cache_headers(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    settings = moto.settings_for(bucket, public_base_url="https://img.example.com/")

    async with make_app(settings) as (_, client):
        created = await upload(client, bearer("alice"))

    assert created.status_code == 201, created.text
    url = created.json()["url"]
    key = key_of(url)
    assert url == f"https://img.example.com/images/{key}"
    stored = moto.client().get_object(Bucket=bucket, Key=f"images/{key}")
    assert stored["Body"].read() == PNG
    assert stored["ContentType"] == "image/png"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    assert objects(moto, bucket) == [f"images/{key}"]


async def test_the_gateway_checks_still_apply(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    async with make_app(moto.settings_for(bucket, url_mode="proxy")) as (_, client):
        anonymous = await upload(client, {})
        not_an_image = await upload(client, bearer("alice"), b"<html>hello</html>")

    assert anonymous.status_code == 401
    assert not_an_image.status_code == 415
    assert not_an_image.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert objects(moto, bucket) == []


async def test_a_presigned_url_fetches_the_object_and_expires_as_configured(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    settings = moto.settings_for(bucket, presigned_expiry_seconds=600, key_prefix="v/")

    async with make_app(settings) as (_, client):
        created = await upload(client, bearer("alice"))

    url = created.json()["url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{moto.endpoint}/{bucket}/v/")
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
    assert SECRET_KEY not in url
    async with httpx.AsyncClient() as browser:
        fetched = await browser.get(url)
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"


async def test_in_proxy_mode_the_gateway_serves_the_object(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    async with make_app(moto.settings_for(bucket, url_mode="proxy")) as (app, client):
        created = await upload(client, bearer("alice"))
        url = created.json()["url"]
        served = await client.get(url)
        unknown = await client.get("/v1/uploads/images/" + "x" * 24 + ".png")

    # the gateway's configured public URL, never the client's Host header
    assert url.startswith(f"{app.settings.http.base_url}/v1/uploads/images/")
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert unknown.status_code == 404


async def test_public_read_acl_is_applied_when_chosen(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    settings = moto.settings_for(
        bucket, public_base_url="https://img.example.com", acl="public-read"
    )

    async with make_app(settings) as (_, client):
        created = await upload(client, bearer("alice"))

    acl = moto.client().get_object_acl(Bucket=bucket, Key=f"images/{key_of(created.json()['url'])}")
    readers = {
        grant["Grantee"].get("URI") for grant in acl["Grants"] if grant["Permission"] == "READ"
    }
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in readers


async def test_the_store_down_answers_503_and_leaves_nothing(
    make_app: AppFactory,
    moto: MotoServer,
    bucket: str,
    bearer: Bearer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = moto.settings_for(bucket, endpoint_url=f"http://127.0.0.1:{closed_port()}")
    missing = moto.settings_for("venta-no-such-bucket", url_mode="proxy")
    caplog.set_level(logging.DEBUG)

    async with make_app(down) as (_, client):
        unreachable = await upload(client, bearer("alice"))
    async with make_app(missing) as (_, client):
        refused = await upload(client, bearer("alice"))

    for response in (unreachable, refused):
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["details"] == {"store": "s3", "operation": "put"}
    assert objects(moto, bucket) == []
    assert "NoSuchBucket" in caplog.text
    assert SECRET_KEY not in caplog.text


async def test_deleting_a_vendor_deletes_its_object(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    settings = moto.settings_for(bucket, public_base_url="https://img.example.com")
    async with make_app(settings) as (app, client):
        kept = (await upload(client, bearer("alice"))).json()["url"]
        given_up = (await upload(client, bearer("alice"))).json()["url"]
        owner = Actor.for_user(await app.users.ensure_user("alice"))
        vendor = await app.vendors.create_vendor(
            owner, VendorCreate(name="Tacos", primaryImage=given_up)
        )
        other = await app.vendors.create_vendor(owner, VendorCreate(name="B", primaryImage=kept))

        await app.vendors.delete_vendor(owner, vendor.id)
        await wait_until(lambda: objects(moto, bucket) == [f"images/{key_of(kept)}"])

        await app.vendors.update_vendor(owner, other.id, VendorUpdate(primaryImage=None))
        await wait_until(lambda: objects(moto, bucket) == [])


async def test_presigned_images_are_deleted_too(
    make_app: AppFactory, moto: MotoServer, bucket: str, bearer: Bearer
) -> None:
    async with make_app(moto.settings_for(bucket)) as (app, client):
        url = (await upload(client, bearer("alice"))).json()["url"]
        owner = Actor.for_user(await app.users.ensure_user("alice"))
        vendor = await app.vendors.create_vendor(owner, VendorCreate(name="T", primaryImage=url))
        assert len(objects(moto, bucket)) == 1

        await app.vendors.delete_vendor(owner, vendor.id)
        await wait_until(lambda: objects(moto, bucket) == [])
