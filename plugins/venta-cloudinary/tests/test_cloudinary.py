"""The Cloudinary store behind venta's real upload route and worker, against a local stand-in
of Cloudinary's upload API that checks every request's signature."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import cloudinary.utils
import httpx
import pytest
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.ports.uploads import KEY_PATTERN
from venta_core.testing import closed_port

from cloudinary_stub import API_SECRET, CLOUD, AppFactory, CloudinaryStub

Bearer = Callable[[str], dict[str, str]]

# A 2x1 PNG (signature, IHDR, IDAT, IEND): what the gateway's sniffing accepts.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000010806000000f478d4fa"
    "0000000d49444154789c63f8cfc0f01f0005000201b3c1b6b30000000049454e44ae426082"
)


async def upload(client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    return await client.post(
        "/v1/uploads/images", files={"file": ("photo.png", PNG, "image/png")}, headers=headers
    )


def key_of(url: str) -> str:
    key = url.split("?", 1)[0].rsplit("/", 1)[1]
    assert KEY_PATTERN.match(key), url
    return key


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def test_an_upload_is_stored_on_cloudinary_and_answered_with_its_cdn_url(
    make_app: AppFactory, stub: CloudinaryStub, bearer: Bearer
) -> None:
    async with make_app(stub.settings_for()) as (_, client):
        created = await upload(client, bearer("alice"))

    assert created.status_code == 201, created.text
    url = created.json()["url"]
    key = key_of(url)
    public_id = f"venta/{key[:-4]}"
    asset = stub.assets[public_id]
    assert asset.data == PNG and asset.format == "png" and asset.type == "upload"
    assert (
        url == f"https://res.cloudinary.com/{CLOUD}/image/upload/v{asset.version}/{public_id}.png"
    )
    ((call, params),) = stub.calls
    assert call == "upload" and stub.refused == []
    assert params["public_id"] == public_id and params["overwrite"] == "0"
    assert API_SECRET not in str(params)


async def test_signed_delivery_urls_carry_the_sdk_signature(
    make_app: AppFactory, stub: CloudinaryStub, bearer: Bearer
) -> None:
    settings = stub.settings_for(delivery_type="authenticated", folder="shops/images")

    async with make_app(settings) as (_, client):
        created = await upload(client, bearer("alice"))

    url = created.json()["url"]
    key = key_of(url)
    public_id = f"shops/images/{key[:-4]}"
    asset = stub.assets[public_id]
    assert stub.calls[0][1]["type"] == "authenticated" and asset.type == "authenticated"
    expected, _ = cloudinary.utils.cloudinary_url(
        public_id,
        format="png",
        version=asset.version,
        type="authenticated",
        sign_url=True,
        secure=True,
        cloud_name=CLOUD,
        api_secret=API_SECRET,
    )
    assert url == expected
    assert f"/{CLOUD}/image/authenticated/s--" in url
    forged, _ = cloudinary.utils.cloudinary_url(
        public_id, format="png", version=asset.version, type="authenticated", sign_url=True,
        secure=True, cloud_name=CLOUD, api_secret="another-secret",
    )  # fmt: skip
    assert forged != url


async def test_a_refused_or_unreachable_cloudinary_answers_503_and_leaves_nothing(
    make_app: AppFactory,
    stub: CloudinaryStub,
    bearer: Bearer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = stub.settings_for(api_secret="not-the-secret")
    down = stub.settings_for(upload_prefix=f"http://127.0.0.1:{closed_port()}")

    async with make_app(wrong) as (_, client):
        refused = await upload(client, bearer("alice"))
    async with make_app(down) as (_, client):
        unreachable = await upload(client, bearer("alice"))

    for response in (refused, unreachable):
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["details"] == {"store": "cloudinary", "operation": "upload"}
    assert stub.refused == ["Invalid Signature"]
    assert stub.assets == {}
    assert "not-the-secret" not in caplog.text and API_SECRET not in caplog.text


async def test_an_upload_whose_answer_was_lost_is_destroyed_again(
    make_app: AppFactory, stub: CloudinaryStub, bearer: Bearer
) -> None:
    stub.lose_answers = 1

    async with make_app(stub.settings_for()) as (_, client):
        response = await upload(client, bearer("alice"))

    assert response.status_code == 503
    assert [call for call, _ in stub.calls] == ["upload", "destroy"]
    assert stub.assets == {}


async def test_images_vendors_give_up_are_destroyed(
    make_app: AppFactory, stub: CloudinaryStub, bearer: Bearer
) -> None:
    async with make_app(stub.settings_for(sign_urls=True)) as (app, client):
        first = (await upload(client, bearer("alice"))).json()["url"]
        second = (await upload(client, bearer("alice"))).json()["url"]
        owner = Actor.for_user(await app.users.ensure_user("alice"))
        vendor = await app.vendors.create_vendor(
            owner, VendorCreate(name="Tacos", primaryImage=first)
        )
        await app.vendors.update_vendor(owner, vendor.id, VendorUpdate(primaryImage=second))
        await wait_until(lambda: set(stub.assets) == {f"venta/{key_of(second)[:-4]}"})

        await app.vendors.delete_vendor(owner, vendor.id)
        await wait_until(lambda: stub.assets == {})

    destroyed = [params for call, params in stub.calls if call == "destroy"]
    assert [p["invalidate"] for p in destroyed] == ["1", "1"]
    assert stub.refused == []


async def test_delete_says_whether_there_was_an_image(stub: CloudinaryStub) -> None:
    from venta_cloudinary import CloudinaryUnavailable, CloudinaryUploadStore

    store = CloudinaryUploadStore(stub.settings_for())
    key = "Abcdefghijklmnopqrstu_-9.png"
    stored = await store.put(key, PNG, "image/png")

    assert stored.size == len(PNG) and await store.get(key) is None
    assert await store.delete(key) is True
    assert await store.delete(key) is False
    assert await store.delete("../escape.png") is False
    down = CloudinaryUploadStore(
        stub.settings_for(upload_prefix=f"http://127.0.0.1:{closed_port()}")
    )
    with pytest.raises(CloudinaryUnavailable):
        await down.delete(key)
