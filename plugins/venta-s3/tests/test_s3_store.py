"""``S3UploadStore`` on its own against moto's S3 server, its URL recognition, and the
plugin's settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from venta_core.ports.uploads import new_key
from venta_core.settings import SettingsError
from venta_core.testing import closed_port

from s3_server import SECRET_KEY, AnswerDropper, MotoServer
from venta_s3 import S3Plugin, S3Settings, S3Unavailable, S3UploadStore
from venta_s3.settings import load_s3_settings

GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
KEY = "Abcdefghijklmnopqrstu_-9.png"


@pytest.fixture
async def store(moto: MotoServer, bucket: str) -> AsyncIterator[S3UploadStore]:
    s3 = S3UploadStore(moto.settings_for(bucket, url_mode="proxy"))
    await s3.start()
    try:
        yield s3
    finally:
        await s3.stop()


async def test_put_get_delete(store: S3UploadStore, moto: MotoServer, bucket: str) -> None:
    key = new_key("image/gif")

    stored = await store.put(key, GIF, "image/gif")
    image = await store.get(key)

    assert stored.url is None and stored.size == len(GIF) and stored.key == key
    assert image is not None and image.data == GIF and image.content_type == "image/gif"
    assert await store.delete(key) is True
    assert await store.delete(key) is False
    assert await store.get(key) is None
    assert moto.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


async def test_keys_it_never_makes_are_refused(store: S3UploadStore) -> None:
    for bad in ("../x.png", "a/b.png", "", "x" * 24):
        assert await store.get(bad) is None
        assert await store.delete(bad) is False
        with pytest.raises(ValueError, match="not a store key"):
            await store.put(bad, GIF, "image/gif")


async def test_outside_proxy_mode_the_gateway_serves_nothing(moto: MotoServer, bucket: str) -> None:
    store = S3UploadStore(moto.settings_for(bucket, public_base_url="https://cdn.example"))
    try:
        key = new_key("image/gif")
        stored = await store.put(key, GIF, "image/gif")  # the client is opened on first use

        assert stored.url == f"https://cdn.example/images/{key}"
        assert await store.get(key) is None
    finally:
        await store.stop()
        await store.stop()  # twice is harmless


async def test_a_failure_raises_s3_unavailable(moto: MotoServer) -> None:
    down = moto.settings_for(
        "shop", url_mode="proxy", endpoint_url=f"http://127.0.0.1:{closed_port()}"
    )
    missing = moto.settings_for("venta-absent-bucket", url_mode="proxy")

    for settings in (down, missing):
        store = S3UploadStore(settings)
        try:
            with pytest.raises(S3Unavailable) as raised:
                await store.put(KEY, GIF, "image/gif")
            assert raised.value.code == "SERVICE_UNAVAILABLE"
            assert raised.value.details == {"store": "s3", "operation": "put"}
            with pytest.raises(S3Unavailable):
                await store.get(KEY)
        finally:
            await store.stop()
    store = S3UploadStore(down)
    try:
        with pytest.raises(S3Unavailable):
            await store.delete(KEY)
    finally:
        await store.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://cdn.example/assets/images/{KEY}", KEY),  # public base URL
        (f"https://cdn.example/assets/images/{KEY}?w=100", KEY),
        (f"https://shop.s3.eu-west-1.amazonaws.com/images/{KEY}?X-Amz-Signature=a", KEY),
        (f"http://127.0.0.1:9000/shop/images/{KEY}?X-Amz-Expires=60", KEY),  # path style
        (f"https://gateway.example/v1/uploads/images/{KEY}", KEY),  # proxy mode
        (f"https://cdn.example/assets/other/{KEY}", None),
        (f"https://other.s3.amazonaws.com/images/{KEY}", None),  # another bucket
        (f"http://127.0.0.1:9000/other/images/{KEY}", None),
        (f"https://shop.s3.amazonaws.com/thumbs/{KEY}", None),  # outside the prefix
        (f"https://shop.s3.amazonaws.com/images/{KEY[:-4]}.svg", None),
        ("https://cdn.example/assets/images/", None),
        ("no url at all", None),
    ],
)
def test_urls_of_the_bucket_are_recognised(url: str, expected: str | None) -> None:
    settings = S3Settings(
        _env_file=None, bucket="shop", public_base_url="https://cdn.example/assets"
    )

    assert S3UploadStore(settings).key_for_url(url) == expected


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_S3_BUCKET", "shop")
    monkeypatch.setenv("VENTA_S3_ACCESS_KEY_ID", "AKIA")
    monkeypatch.setenv("VENTA_S3_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("VENTA_S3_URL_MODE", "proxy")

    settings = load_s3_settings()

    assert settings.bucket == "shop" and settings.mode == "proxy"
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings.model_dump())


def test_the_url_mode_defaults_to_public_with_a_base_url_else_presigned() -> None:
    assert S3Settings(_env_file=None, bucket="b").mode == "presigned"
    assert S3Settings(_env_file=None, bucket="b", public_base_url="https://c.example").mode == (
        "public"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VENTA_S3_ACCESS_KEY_ID": "AKIA"}, "VENTA_S3_SECRET_ACCESS_KEY is not set"),
        ({"VENTA_S3_URL_MODE": "public"}, "needs VENTA_S3_PUBLIC_BASE_URL"),
        ({"VENTA_S3_URL_MODE": "cdn"}, "VENTA_S3_URL_MODE:"),
        ({"VENTA_S3_KEY_PREFIX": "/abs/"}, "VENTA_S3_KEY_PREFIX:"),
        ({"VENTA_S3_PUBLIC_BASE_URL": "cdn.example"}, "VENTA_S3_PUBLIC_BASE_URL:"),
        ({"VENTA_S3_PRESIGNED_EXPIRY_SECONDS": "700000"}, "VENTA_S3_PRESIGNED_EXPIRY_SECONDS:"),
    ],
)
def test_a_bad_configuration_stops_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("VENTA_S3_BUCKET", "shop")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        S3Plugin().venta_upload_store(app=None)  # type: ignore[arg-type]

    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_without_a_bucket_the_plugin_leaves_the_builtin_store() -> None:
    assert S3Plugin(S3Settings(_env_file=None)).venta_upload_store(app=None) is None  # type: ignore[arg-type]


async def test_an_object_stored_whose_answer_was_lost_is_deleted_again(
    moto: MotoServer, bucket: str
) -> None:
    relay = AnswerDropper(moto.port)
    await relay.start()
    settings = moto.settings_for(
        bucket, url_mode="proxy", endpoint_url=f"http://127.0.0.1:{relay.port}", max_attempts=1
    )
    store = S3UploadStore(settings)
    try:
        with pytest.raises(S3Unavailable):
            await store.put(new_key("image/gif"), GIF, "image/gif")
    finally:
        await store.stop()
        await relay.stop()

    assert relay.dropped >= 1  # the PUT reached the bucket (the client may have retried)
    assert moto.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0
