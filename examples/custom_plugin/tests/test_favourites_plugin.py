"""The example plugin, tested with the fixtures venta ships for plugin authors
(``venta_settings``, ``venta_token`` from ``venta_core.testing``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import httpx
import pytest
import typer
from typer.testing import CliRunner
from venta_core.app import Venta
from venta_core.events import EventEnvelope, UserEventData, VendorDeletedData, VendorEventData
from venta_core.plugins import create_plugin_manager, describe
from venta_core.settings import Settings
from venta_core.transports.http import create_http_app

from venta_favourites import FavouritesPlugin, FavouritesSettings, LogNotifier, Notification

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def plugin() -> FavouritesPlugin:
    return FavouritesPlugin(FavouritesSettings(_env_file=None, max_per_user=2), LogNotifier())


@pytest.fixture
async def client(
    venta_settings: Settings, plugin: FavouritesPlugin
) -> AsyncIterator[httpx.AsyncClient]:
    async with Venta(venta_settings, plugins=[plugin], load_entry_points=False) as app:
        transport = httpx.ASGITransport(app=create_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as c:
            yield c


def auth(venta_token, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {venta_token(subject)}"}


async def new_vendor(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    response = await client.post("/v1/vendors", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def vendor_event(kind: str, vendor_id: str, *, open_: bool, at: datetime) -> EventEnvelope:
    data = VendorEventData(id=vendor_id, owner_id="owner", name="Tacos", open=open_, updated_at=at)
    return EventEnvelope.new(kind, data)


async def test_favourites_over_http(client, venta_token, plugin):
    alice, bob = auth(venta_token, "alice"), auth(venta_token, "bob")
    tacos = await new_vendor(client, alice, "Tacos")
    crepes = await new_vendor(client, alice, "Crepes")
    third = await new_vendor(client, alice, "Third")

    assert (await client.put(f"/v1/favourites/{tacos}", headers=bob)).status_code == 204
    assert (await client.put(f"/v1/favourites/{tacos}", headers=bob)).status_code == 204
    assert (await client.put(f"/v1/favourites/{crepes}", headers=bob)).status_code == 204
    too_many = await client.put(f"/v1/favourites/{third}", headers=bob)
    unknown = await client.put("/v1/favourites/3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44", headers=bob)
    anonymous = await client.get("/v1/favourites")
    listed = await client.get("/v1/favourites", headers=bob)
    await client.delete(f"/v1/favourites/{crepes}", headers=bob)
    after = await client.get("/v1/favourites", headers=bob)

    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "CONFLICT"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "VENDOR_NOT_FOUND"
    assert anonymous.status_code == 401
    assert sorted(listed.json()["vendorIds"]) == sorted([tacos, crepes])
    assert after.json() == {"vendorIds": [tacos]}


async def test_fans_are_told_once_when_a_vendor_opens(plugin):
    plugin.store.add("bob", "v1")
    plugin.store.add("carol", "v1")
    plugin.store.add("carol", "v2")
    [handler] = plugin.venta_event_handlers(app=None)  # type: ignore[arg-type]
    notifier = plugin.notifier
    assert isinstance(notifier, LogNotifier)

    await handler.handle(vendor_event("vendor.created", "v1", open_=False, at=T0))
    opened = vendor_event("vendor.updated", "v1", open_=True, at=T0 + timedelta(minutes=1))
    await handler.handle(opened)
    await handler.handle(opened)  # delivered twice
    stale = vendor_event("vendor.updated", "v1", open_=False, at=T0 + timedelta(seconds=30))
    await handler.handle(stale)  # an older event arriving late
    renamed = vendor_event("vendor.updated", "v1", open_=True, at=T0 + timedelta(minutes=2))
    await handler.handle(renamed)  # still open: nothing new

    assert notifier.sent == [
        Notification("bob", "v1", "Tacos"),
        Notification("carol", "v1", "Tacos"),
    ]
    assert handler.name == "favourites-openings" and "vendor.updated" in handler.event_types


async def test_deleted_vendors_and_users_are_forgotten(plugin):
    plugin.store.add("bob", "v1")
    plugin.store.add("carol", "v1")
    [handler] = plugin.venta_event_handlers(app=None)  # type: ignore[arg-type]

    await handler.handle(
        EventEnvelope.new("vendor.deleted", VendorDeletedData(id="v1", owner_id="o"))
    )
    plugin.store.add("bob", "v2")
    await handler.handle(
        EventEnvelope.new("user.deleted", UserEventData(id="bob", external_id="b"))
    )

    assert plugin.store.fans_of("v1") == []
    assert plugin.store.of_user("bob") == []


def test_the_cli_command(plugin):
    cli = typer.Typer()
    plugin.venta_cli_commands(cli=cli)

    result = CliRunner().invoke(cli, ["favourites", "settings"])

    assert result.exit_code == 0, result.output
    assert "VENTA_FAVOURITES_MAX_PER_USER=2" in result.stdout


def test_the_entry_point_is_installed(venta_settings: Settings):
    [ep] = [ep for ep in entry_points(group="venta") if ep.name == "favourites"]
    infos = {i.name: i for i in describe(create_plugin_manager(venta_settings))}

    assert ep.value == "venta_favourites.plugin:plugin"
    assert infos["favourites"].source == "entry point (venta-favourites)"
    assert set(infos["favourites"].hooks) == {
        "venta_cli_commands",
        "venta_event_handlers",
        "venta_http_routers",
    }


async def test_the_routes_document_their_errors(venta_settings: Settings, plugin):
    async with Venta(venta_settings, plugins=[plugin], load_entry_points=False) as app:
        paths = create_http_app(app).openapi()["paths"]

    def statuses(path: str, method: str) -> list[str]:
        return sorted(paths[path][method]["responses"])

    assert statuses("/v1/favourites", "get") == ["200", "400", "401", "429", "500"]
    add = paths["/v1/favourites/{vendor_id}"]["put"]["responses"]
    assert sorted(add) == ["204", "400", "401", "404", "409", "429", "500"]
    assert add["409"]["description"] == "CONFLICT: the caller has the most favourites allowed"
    assert statuses("/v1/favourites/{vendor_id}", "delete") == [
        "204",
        "400",
        "401",
        "404",
        "429",
        "500",
    ]
