"""Which upload store an application uses: the built-in one, the one plugin store that answers,
never two (the process refuses to start and names both); ``VENTA_PLUGINS_BLOCKED`` picks."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.http.http_fakes import assert_error
from tests.uploads.images import png
from venta_core.app import Venta
from venta_core.hookspecs import hookimpl
from venta_core.ports.identity import DevTokenProvider
from venta_core.ports.uploads import StoredImage, StoredUpload
from venta_core.ports.uploads_local import LocalDiskUploadStore
from venta_core.settings import Settings, SettingsError
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app


class NamedStore:
    def __init__(self, name: str) -> None:
        self.name = name
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def put(self, key: str, data: bytes, content_type: str) -> StoredUpload:
        return StoredUpload(key, content_type, len(data), url=f"https://{self.name}.example/{key}")

    async def get(self, key: str) -> StoredImage | None:
        return None

    async def delete(self, key: str) -> bool:
        return False


class StorePlugin:
    """Answers ``venta_upload_store`` when ``configured``, like venta-s3 and venta-cloudinary."""

    def __init__(self, name: str, configured: bool = True) -> None:
        self.__name__ = name  # the plugin's name, as an entry point's name is
        self.store = NamedStore(name)
        self.configured = configured

    @hookimpl
    def venta_upload_store(self, app: object) -> NamedStore | None:
        return self.store if self.configured else None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = embedded_settings(tmp_path / "venta.db")
    return base.model_copy(update={"uploads": base.uploads.model_copy(update={"dir": "u"})})


def test_without_plugins_the_builtin_store_is_used(settings: Settings) -> None:
    app = Venta(settings, load_entry_points=False)

    assert isinstance(app.upload_store, LocalDiskUploadStore)


def test_the_one_configured_plugin_store_is_used(settings: Settings) -> None:
    s3, cloudinary = StorePlugin("s3"), StorePlugin("cloudinary", configured=False)

    app = Venta(settings, plugins=[s3, cloudinary], load_entry_points=False)

    assert app.upload_store is s3.store


def test_two_configured_plugin_stores_refuse_to_start(settings: Settings) -> None:
    s3, cloudinary = StorePlugin("s3"), StorePlugin("cloudinary")
    with pytest.raises(SettingsError) as raised:
        Venta(settings, plugins=[s3, cloudinary], load_entry_points=False)

    message = str(raised.value)
    assert "2 plugins provide the upload store" in message
    assert "'s3' (plugin s3)" in message and "'cloudinary' (plugin cloudinary)" in message
    assert "VENTA_PLUGINS_BLOCKED" in message
    assert "\n" not in message


def test_blocking_one_plugin_picks_the_other(settings: Settings) -> None:
    s3, cloudinary = StorePlugin("s3"), StorePlugin("cloudinary")
    blocked = settings.model_copy(update={"plugins_blocked": ["cloudinary"]})

    app = Venta(blocked, plugins=[s3, cloudinary], load_entry_points=False)

    assert app.pm.get_plugin("cloudinary") is None
    assert app.upload_store is s3.store


def test_blocking_every_store_leaves_no_store(settings: Settings) -> None:
    blocked = settings.model_copy(update={"plugins_blocked": ["venta_core.builtins.uploads"]})

    app = Venta(blocked, load_entry_points=False)

    assert app.upload_store is None
    assert [h.name for h in app.event_handlers()] == ["search-sync"]


async def test_a_store_with_a_lifecycle_starts_and_stops_with_the_application(
    settings: Settings,
) -> None:
    plugin = StorePlugin("s3")

    async with Venta(settings, plugins=[plugin], load_entry_points=False):
        assert plugin.store.started and not plugin.store.stopped

    assert plugin.store.stopped


async def test_a_refused_write_of_the_builtin_store_answers_503(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    base = embedded_settings(tmp_path / "venta.db")
    uploads = base.uploads.model_copy(update={"dir": str(tmp_path / "file" / "uploads")})
    token = DevTokenProvider(base.auth).issue("alice")

    async with Venta(base.model_copy(update={"uploads": uploads}), load_entry_points=False) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
            response = await client.post(
                "/v1/uploads/images",
                files={"file": ("a.png", png(), "image/png")},
                headers={"Authorization": f"Bearer {token}"},
            )

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
