"""The plugin's settings, its URL recognition, and the choice between upload stores when
venta-s3 is installed too (entry points, as a process loads them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from venta_core.app import Venta
from venta_core.settings import SettingsError
from venta_core.testing import embedded_settings

from venta_cloudinary import CloudinaryPlugin, CloudinarySettings, CloudinaryUploadStore
from venta_cloudinary.settings import load_cloudinary_settings

KEY = "Abcdefghijklmnopqrstu_-9.jpg"
SECRET = "env-secret-0123"


def store(**overrides: object) -> CloudinaryUploadStore:
    values: dict[str, object] = {"cloud_name": "shop", "api_key": "1", "api_secret": "s"}
    values.update(overrides)
    return CloudinaryUploadStore(CloudinarySettings(_env_file=None, **values))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://res.cloudinary.com/shop/image/upload/v1712/venta/{KEY}", KEY),
        (f"http://res.cloudinary.com/shop/image/upload/v1712/venta/{KEY}", KEY),
        (f"https://res.cloudinary.com/shop/image/upload/venta/{KEY}", KEY),
        (f"https://res.cloudinary.com/shop/image/upload/s--AbC_12-x--/v1/venta/{KEY}", KEY),
        (f"https://res.cloudinary.com/shop/image/upload/w_200,c_fill/v1/venta/{KEY}?a=1", KEY),
        (f"https://res.cloudinary.com/other/image/upload/v1/venta/{KEY}", None),  # other cloud
        (f"https://res.cloudinary.com/shop/image/private/v1/venta/{KEY}", None),  # other type
        (f"https://res.cloudinary.com/shop/image/upload/v1/elsewhere/{KEY}", None),
        (f"https://res.cloudinary.com/shop/image/upload/v1/{KEY}", None),  # outside the folder
        (f"https://cdn.example/shop/image/upload/v1/venta/{KEY}", None),
        (f"https://res.cloudinary.com/shop/image/upload/v1/venta/{KEY[:-4]}.svg", None),
        (f"https://venta.test/v1/uploads/images/{KEY}", None),
        ("not a url", None),
    ],
)
def test_delivery_urls_of_this_cloud_and_folder_are_recognised(
    url: str, expected: str | None
) -> None:
    assert store().key_for_url(url) == expected


def test_urls_of_a_custom_domain_without_a_folder_are_recognised() -> None:
    custom = store(secure_distribution="img.example.com", folder="")

    assert custom.key_for_url(f"https://img.example.com/image/upload/v3/{KEY}") == KEY
    assert custom.key_for_url(f"https://res.cloudinary.com/shop/image/upload/v3/{KEY}") is None
    assert custom.url_of(KEY, 3) == f"https://img.example.com/image/upload/v3/{KEY}"


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CLOUD_NAME": "shop", "API_KEY": "1", "API_SECRET": SECRET}.items():
        monkeypatch.setenv(f"VENTA_CLOUDINARY_{name}", value)
    monkeypatch.setenv("VENTA_CLOUDINARY_FOLDER", "/vendors/")

    settings = load_cloudinary_settings()

    assert settings.configured and settings.folder == "vendors"
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VENTA_CLOUDINARY_CLOUD_NAME": "shop"}, "VENTA_CLOUDINARY_API_KEY, VENTA_CLOUDINARY_"),
        ({"VENTA_CLOUDINARY_API_SECRET": "s"}, "VENTA_CLOUDINARY_CLOUD_NAME"),
        ({"VENTA_CLOUDINARY_FOLDER": "a/../b"}, "VENTA_CLOUDINARY_FOLDER:"),
        ({"VENTA_CLOUDINARY_DELIVERY_TYPE": "private"}, "VENTA_CLOUDINARY_DELIVERY_TYPE:"),
        ({"VENTA_CLOUDINARY_UPLOAD_PREFIX": "api.example"}, "VENTA_CLOUDINARY_UPLOAD_PREFIX:"),
    ],
)
def test_a_bad_configuration_stops_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        CloudinaryPlugin().venta_upload_store(app=None)  # type: ignore[arg-type]

    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_unconfigured_the_plugin_leaves_the_builtin_store() -> None:
    plugin = CloudinaryPlugin(CloudinarySettings(_env_file=None))

    assert plugin.venta_upload_store(app=None) is None  # type: ignore[arg-type]


def test_with_venta_s3_configured_too_the_process_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s3 = pytest.importorskip("venta_s3.plugin")  # installed with the repository's plugins
    import venta_cloudinary.plugin

    # The entry points' plugin objects read their settings once: let them read these.
    monkeypatch.setattr(s3.plugin, "_settings", None)
    monkeypatch.setattr(venta_cloudinary.plugin.plugin, "_settings", None)
    for name, value in {"CLOUD_NAME": "shop", "API_KEY": "1", "API_SECRET": SECRET}.items():
        monkeypatch.setenv(f"VENTA_CLOUDINARY_{name}", value)
    monkeypatch.setenv("VENTA_S3_BUCKET", "shop")
    settings = embedded_settings(tmp_path / "venta.db")

    with pytest.raises(SettingsError) as raised:
        Venta(settings)  # entry points loaded, as a process does

    message = str(raised.value)
    assert "'s3' (plugin s3)" in message and "'cloudinary' (plugin cloudinary)" in message
    chosen = Venta(settings.model_copy(update={"plugins_blocked": ["s3"]}))
    assert isinstance(chosen.upload_store, CloudinaryUploadStore)
