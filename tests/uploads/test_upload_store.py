"""The upload port: type sniffing, keys, and the local-disk store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.uploads.images import GIF, HTML, JPEG, SVG, WEBP, png
from venta_core.ports.uploads import (
    KEY_PATTERN,
    UploadStore,
    UploadStoreUnavailable,
    key_for_url,
    new_key,
    sniff_image_type,
)
from venta_core.ports.uploads_local import LocalDiskUploadStore
from venta_core.settings import UploadSettings


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(), "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a" + GIF[6:], "image/gif"),
        (WEBP, "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),  # RIFF, but audio
        (HTML, None),
        (SVG, None),
        (b"", None),
        (b"\xff\xd8", None),
    ],
)
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff_image_type(data[:16]) == expected


def test_keys_are_random_and_typed() -> None:
    keys = {new_key("image/png") for _ in range(100)}

    assert len(keys) == 100
    assert all(KEY_PATTERN.match(k) and k.endswith(".png") for k in keys)


async def test_put_get_delete(tmp_path: Path) -> None:
    store = LocalDiskUploadStore(UploadSettings(dir=str(tmp_path / "u")))
    key = new_key("image/png")

    stored = await store.put(key, png(), "image/png")
    image = await store.get(key)

    assert stored.url is None and stored.size == len(png())
    assert image is not None and image.data == png() and image.content_type == "image/png"
    assert (tmp_path / "u" / key[:2] / key).exists()
    assert not list((tmp_path / "u" / key[:2]).glob(".incoming-*"))
    assert await store.delete(key) is True
    assert await store.delete(key) is False
    assert await store.get(key) is None


@pytest.mark.parametrize("key", ["../escape.png", "a/b.png", "", "x" * 24 + ".exe", "x" * 24])
async def test_keys_it_never_makes_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalDiskUploadStore(UploadSettings(dir=str(tmp_path)))

    assert store.path_of(key) is None
    assert await store.get(key) is None
    assert await store.delete(key) is False
    with pytest.raises(ValueError, match="not a store key"):
        await store.put(key, png(), "image/png")


async def test_concurrent_puts_do_not_collide(tmp_path: Path) -> None:
    store = LocalDiskUploadStore(UploadSettings(dir=str(tmp_path)))

    stored = await asyncio.gather(
        *(store.put(new_key("image/gif"), GIF, "image/gif") for _ in range(20))
    )

    assert len({s.key for s in stored}) == 20


def test_allowed_types_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown image types"):
        UploadSettings(allowed_types=["image/svg+xml"])
    assert UploadSettings(allowed_types="image/png, image/gif").allowed_types == [  # type: ignore[arg-type]
        "image/png",
        "image/gif",
    ]


KEY = "A" * 22 + "b_.png"  # 24 characters of the alphabet, then the extension


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://venta.test/v1/uploads/images/{KEY}", KEY),
        (f"https://api.example.com/v1/uploads/images/{KEY}", KEY),
        (f"https://example.com/venta/v1/uploads/images/{KEY}?v=2#top", KEY),  # behind a prefix
        (f"https://example.com/v1/uploads/images/{KEY[:-4]}.exe", None),
        (f"https://example.com/v1/uploads/images/../{KEY}", None),
        (f"https://example.com/v1/uploads/images/x/{KEY}", None),
        (f"https://example.com/pictures/{KEY}", None),
        (f"ftp://example.com/v1/uploads/images/{KEY}", None),
        (f"/v1/uploads/images/{KEY}", None),
        ("not a url", None),
        ("http://[::1", None),
    ],
)
def test_the_gateway_urls_of_its_images_are_recognised(
    tmp_path: Path, url: str, expected: str | None
) -> None:
    store = LocalDiskUploadStore(UploadSettings(dir=str(tmp_path)))

    assert store.key_for_url(url) == expected


def test_urls_under_the_public_base_url_are_recognised(tmp_path: Path) -> None:
    base = "https://cdn.example.com/images/"
    store = LocalDiskUploadStore(UploadSettings(dir=str(tmp_path), public_base_url=base))

    assert store.key_for_url(f"https://cdn.example.com/images/{KEY}") == KEY
    assert store.key_for_url(f"https://cdn.example.com/images/{KEY}?w=200") == KEY
    assert store.key_for_url(f"https://cdn.example.com/images/sub/{KEY}") is None
    assert store.key_for_url(f"https://cdn.example.com/other/{KEY}") is None


def test_a_store_without_key_for_url_recognises_nothing() -> None:
    class OldStore:  # written before key_for_url existed, not a subclass of the Protocol
        name = "old"

    class Subclass(UploadStore):
        name = "sub"

    class Liar:
        name = "liar"

        def key_for_url(self, url: str) -> str:
            return "../../etc/passwd"

    url = f"https://example.com/v1/uploads/images/{KEY}"
    assert key_for_url(OldStore(), url) is None  # type: ignore[arg-type]
    assert key_for_url(Subclass(), url) is None  # type: ignore[abstract]
    assert key_for_url(Liar(), url) is None  # type: ignore[arg-type]


async def test_a_write_the_file_system_refuses_is_a_503_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # the store's directory cannot be created under a file
    store = LocalDiskUploadStore(UploadSettings(dir=str(blocker)))

    with pytest.raises(UploadStoreUnavailable) as raised:
        await store.put(new_key("image/png"), png(), "image/png")

    assert raised.value.code == "SERVICE_UNAVAILABLE"
    assert list(tmp_path.iterdir()) == [blocker]
