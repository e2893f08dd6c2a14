"""The worker deletes images that vendors give up (the image clean-up handlers), with the
built-in store, on the embedded backends and on PostgreSQL + Redis + JetStream; and across
processes: the gateway that stored the image, the one that deleted the vendor and the worker
are different applications sharing only the database, the event stream and the upload
directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import real_settings
from tests.events.helpers import EventRecorder, delete_streams, empty_tables, fast, wait_until
from tests.uploads.images import png
from venta_core.app import Venta
from venta_core.builtins.uploads import IMAGE_CLEANUP
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.events import ImageReleasedData
from venta_core.ports.identity import DevTokenProvider
from venta_core.ports.stream import ConsumerSpec
from venta_core.settings import Settings
from venta_core.transports.http import create_http_app

pytestmark = pytest.mark.integration

StartApp = Callable[..., Awaitable[Venta]]


@asynccontextmanager
async def _starter(base: Settings, uploads_dir: Path) -> AsyncIterator[StartApp]:
    uploads = base.uploads.model_copy(update={"dir": str(uploads_dir)})
    async with AsyncExitStack() as stack:

        async def start(worker: bool = True, plugins: Any = (), **overrides: Any) -> Venta:
            settings = fast(base).model_copy(update={"uploads": uploads, **overrides})
            app = Venta(settings, plugins=plugins, load_entry_points=False)
            if not settings.is_sqlite:
                await app.database.start()
                await empty_tables(app)
            if worker:
                app.enable_worker()
            stack.push_async_callback(delete_streams, settings)
            await stack.enter_async_context(app)
            return app

        yield start


@pytest.fixture
async def start_app(backend_settings: Settings, tmp_path: Path) -> AsyncIterator[StartApp]:
    """``await start_app(worker=True, **settings_overrides)``: a started application on the
    backend under test whose uploads go to ``tmp_path / "uploads"``."""
    async with _starter(backend_settings, tmp_path / "uploads") as start:
        yield start


@pytest.fixture
async def start_real_app(postgres_url: str, tmp_path: Path) -> AsyncIterator[StartApp]:
    """The same on PostgreSQL + Redis + JetStream only, every app of a test sharing them."""
    async with _starter(real_settings(postgres_url), tmp_path / "uploads") as start:
        yield start


async def upload(app: Venta, subject: str = "owner") -> str:
    """POST an image through the gateway of ``app``; its URL."""
    token = DevTokenProvider(app.settings.auth).issue(subject)
    transport = httpx.ASGITransport(app=create_http_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        response = await client.post(
            "/v1/uploads/images",
            files={"file": ("photo.png", png(2, 2), "image/png")},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url


def file_of(app: Venta, url: str) -> Path:
    key = url.rsplit("/", 1)[1]
    return Path(app.settings.uploads.dir) / key[:2] / key


async def owner(app: Venta, subject: str = "owner") -> Actor:
    return Actor.for_user(await app.users.ensure_user(subject))


def handled(app: Venta) -> float:
    """``image.released`` events the clean-up handler of ``app`` has handled."""
    assert app.worker is not None
    labels = {"handler": IMAGE_CLEANUP, "type": "image.released"}
    registry = app.worker.metrics.registry
    value = registry.get_sample_value("venta_worker_events_handled_total", labels)
    return value or 0.0


async def gone(path: Path) -> bool:
    return not path.exists()


async def test_deleting_a_vendor_deletes_its_image(start_app: StartApp) -> None:
    app = await start_app()
    url = await upload(app)
    actor = await owner(app)
    vendor = await app.vendors.create_vendor(actor, VendorCreate(name="Tacos", primaryImage=url))
    assert file_of(app, url).exists()

    await app.vendors.delete_vendor(actor, vendor.id)

    await wait_until(lambda: gone(file_of(app, url)))


async def test_a_replaced_or_removed_image_is_deleted_and_the_new_one_kept(
    start_app: StartApp,
) -> None:
    app = await start_app()
    first, second = await upload(app), await upload(app)
    actor = await owner(app)
    vendor = await app.vendors.create_vendor(actor, VendorCreate(name="Tacos", primaryImage=first))

    await app.vendors.update_vendor(actor, vendor.id, VendorUpdate(primaryImage=second))
    await wait_until(lambda: gone(file_of(app, first)))
    assert file_of(app, second).exists()

    await app.vendors.update_vendor(actor, vendor.id, VendorUpdate(name="Churros"))
    await app.vendors.update_vendor(actor, vendor.id, VendorUpdate(primaryImage=None))
    await wait_until(lambda: gone(file_of(app, second)))


async def test_an_image_another_vendor_shows_is_kept(start_app: StartApp) -> None:
    app = await start_app()
    url = await upload(app)
    alice, bob = await owner(app, "alice"), await owner(app, "bob")
    mine = await app.vendors.create_vendor(alice, VendorCreate(name="A", primaryImage=url))
    await app.vendors.create_vendor(bob, VendorCreate(name="B", primaryImage=url))

    await app.vendors.delete_vendor(alice, mine.id)
    await wait_until(lambda: _true(handled(app) == 1))

    assert file_of(app, url).exists()


async def test_deleting_a_user_deletes_the_images_of_their_vendors(start_app: StartApp) -> None:
    app = await start_app()
    urls = [await upload(app), await upload(app)]
    actor = await owner(app)
    for n, url in enumerate(urls):
        await app.vendors.create_vendor(actor, VendorCreate(name=f"V{n}", primaryImage=url))

    assert actor.user_id is not None
    await app.users.delete_user(actor.user_id)

    for url in urls:
        await wait_until(lambda url=url: gone(file_of(app, url)))


async def test_urls_of_other_sites_and_stores_are_left_alone(start_app: StartApp) -> None:
    app = await start_app()
    url = await upload(app)
    key = url.rsplit("/", 1)[1]
    actor = await owner(app)
    foreign = [f"https://elsewhere.example/pictures/{key}", "https://cdn.example/v1/cat.png"]
    for n, other in enumerate(foreign):
        vendor = await app.vendors.create_vendor(
            actor, VendorCreate(name=f"V{n}", primaryImage=other)
        )
        await app.vendors.delete_vendor(actor, vendor.id)

    await wait_until(lambda: _true(handled(app) == 2))
    assert file_of(app, url).exists()


async def test_cleanup_can_be_turned_off(start_app: StartApp, backend_settings: Settings) -> None:
    uploads = {"dir": "unused", "delete_unused_images": False}
    app = await start_app(uploads=backend_settings.uploads.model_copy(update=uploads))

    assert [h.name for h in app.event_handlers()] == ["search-sync"]


async def test_the_worker_of_another_process_deletes_the_image(
    start_real_app: StartApp, postgres_url: str
) -> None:
    # Three applications on one database and one JetStream stream, as three processes would be.
    base = real_settings(postgres_url)
    uploader = await start_real_app(worker=False, key_prefix=base.key_prefix)
    deleter = await start_real_app(worker=False, key_prefix=base.key_prefix)
    worker = await start_real_app(worker=True, key_prefix=base.key_prefix)
    url = await upload(uploader)
    actor = await owner(deleter)
    vendor = await deleter.vendors.create_vendor(actor, VendorCreate(name="T", primaryImage=url))

    await deleter.vendors.delete_vendor(actor, vendor.id)

    await wait_until(lambda: gone(file_of(worker, url)), timeout=20)
    assert handled(worker) == 1


async def _true(value: bool) -> bool:
    return value


async def test_each_image_given_up_is_one_image_released_event(start_app: StartApp) -> None:
    """Replaced, removed, the vendor deleted, the owner deleted: one event each; a change
    that keeps the image, or a vendor without one, none."""
    releases = EventRecorder("releases", {"image.released"})
    app = await start_app(plugins=[releases])
    actor = await owner(app)
    assert actor.user_id is not None
    a, b, c, d = (
        "https://cdn.example/a.png",
        "https://cdn.example/b.png",
        "https://x/c",
        "https://x/d",
    )
    first = await app.vendors.create_vendor(actor, VendorCreate(name="One", primaryImage=a))
    await app.vendors.update_vendor(actor, first.id, VendorUpdate(name="Uno"))
    await app.vendors.update_vendor(actor, first.id, VendorUpdate(primaryImage=a))
    await app.vendors.update_vendor(actor, first.id, VendorUpdate(primaryImage=b))
    await app.vendors.update_vendor(actor, first.id, VendorUpdate(primaryImage=None))
    second = await app.vendors.create_vendor(actor, VendorCreate(name="Two", primaryImage=c))
    await app.vendors.delete_vendor(actor, second.id)
    third = await app.vendors.create_vendor(actor, VendorCreate(name="Three", primaryImage=d))
    await app.vendors.create_vendor(actor, VendorCreate(name="Four"))
    await app.users.delete_user(actor.user_id)

    await wait_until(lambda: _true(len(releases.handled) >= 4))
    await asyncio.sleep(0.2)  # and no more
    seen: list[ImageReleasedData] = []
    for envelope in releases.handled:
        payload = envelope.payload()
        assert isinstance(payload, ImageReleasedData)
        seen.append(payload)
    got = sorted((r.url, r.reason, r.owner_id) for r in seen)
    assert got == [
        (a, "replaced", actor.user_id),
        (b, "removed", actor.user_id),
        (c, "deleted", actor.user_id),
        (d, "deleted", actor.user_id),
    ]
    vendors = {r.url: r.vendor_id for r in seen}
    assert vendors == {a: first.id, b: first.id, c: second.id, d: third.id}


async def test_a_starting_worker_deletes_the_consumers_of_retired_handlers(
    start_app: StartApp,
) -> None:
    """The two clean-up handlers of earlier releases read every vendor.updated and
    vendor.deleted; their durable consumers, left alone, would lag (and keep events under
    interest retention). A starting worker deletes them."""
    app = await start_app(worker=False)
    prefix = app.settings.key_prefix
    for name, subject in (
        ("image-cleanup-replaced", "vendor.updated"),
        ("image-cleanup-deleted", "vendor.deleted"),
    ):
        spec = ConsumerSpec(durable=f"{prefix}-{name}", filter_subject=f"{prefix}.events.{subject}")
        await (await app.stream.consumer(spec)).close()
        assert await app.stream.delete_consumer(spec.durable, spec.filter_subject)
        await (await app.stream.consumer(spec)).close()  # there again for the worker to find

    worker = app.enable_worker()
    await worker.start()
    try:
        for name in ("image-cleanup-replaced", "image-cleanup-deleted"):
            durable = f"{prefix}-{name}"
            assert not await app.stream.delete_consumer(durable, f"{prefix}.events.>")
        assert IMAGE_CLEANUP in worker.handlers
        assert not await app.stream.delete_consumer("nobody", "no-such-stream.events.>")
    finally:
        await worker.stop()
