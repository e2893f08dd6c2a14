"""The upload port: type sniffing, keys, and the local-disk store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.uploads.images import GIF, HTML, JPEG, SVG, WEBP, png
from venta_core.ports.uploads import KEY_PATTERN, new_key, sniff_image_type
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
