"""The example plugin, tested with the fixtures venta ships for plugin authors
(``venta_settings``, ``venta_token`` from ``venta_core.testing``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import httpx
import typer
from typer.testing import CliRunner
from venta_core.app import Venta
from venta_core.events import EventEnvelope, UserEventData, VendorDeletedData, VendorEventData
from venta_core.plugins import create_plugin_manager, describe
from venta_core.settings import Settings
from venta_core.transports.http import create_http_app

from venta_favourites import FavouritesPlugin, FavouritesSettings, LogNotifier, Notification

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def auth(venta_token, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {venta_token(subject)}"}


async def new_vendor(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    response = await client.post("/v1/vendors", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def vendor_event(kind: str, vendor_id: str, *, open_: bool, at: datetime) -> EventEnvelope:
    data = VendorEventData(id=vendor_id, owner_id="owner", name="Tacos", open=open_, updated_at=at)
    return EventEnvelope.new(kind, data)


async def user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.get("/v1/me", headers=headers)  # created on first sight
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


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
    assert await plugin.store.fans_of(tacos) == [await user_id(client, bob)]


async def test_favourites_are_shared_by_every_process(settings, client, venta_token, plugin):
    """A second application on the same database (another gateway process) sees them."""
    bob = auth(venta_token, "bob")
    tacos = await new_vendor(client, auth(venta_token, "alice"), "Tacos")
    await client.put(f"/v1/favourites/{tacos}", headers=bob)
    other = FavouritesPlugin(FavouritesSettings(_env_file=None), LogNotifier())

    async with Venta(settings, plugins=[other], load_entry_points=False) as second:
        transport = httpx.ASGITransport(app=create_http_app(second))
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as c:
            listed = await c.get("/v1/favourites", headers=bob)

    assert listed.json() == {"vendorIds": [tacos]}


async def test_fans_are_told_once_when_a_vendor_opens(app, client, venta_token, plugin):
    owner = auth(venta_token, "owner")
    v1, v2 = await new_vendor(client, owner, "Tacos"), await new_vendor(client, owner, "Crepes")
    bob = await user_id(client, auth(venta_token, "bob"))
    carol = await user_id(client, auth(venta_token, "carol"))
    await plugin.store.add(bob, v1)
    await plugin.store.add(carol, v1)
    await plugin.store.add(carol, v2)
    [handler] = plugin.venta_event_handlers(app=app)
    notifier = plugin.notifier
    assert isinstance(notifier, LogNotifier)

    await handler.handle(vendor_event("vendor.created", v1, open_=False, at=T0))
    opened = vendor_event("vendor.updated", v1, open_=True, at=T0 + timedelta(minutes=1))
    await handler.handle(opened)
    await handler.handle(opened)  # delivered twice
    stale = vendor_event("vendor.updated", v1, open_=False, at=T0 + timedelta(seconds=30))
    await handler.handle(stale)  # an older event arriving late
    renamed = vendor_event("vendor.updated", v1, open_=True, at=T0 + timedelta(minutes=2))
    await handler.handle(renamed)  # still open: nothing new

    assert sorted(notifier.sent, key=lambda n: n.user_id) == sorted(
        [Notification(bob, v1, "Tacos"), Notification(carol, v1, "Tacos")],
        key=lambda n: n.user_id,
    )
    assert handler.name == "favourites-openings" and "vendor.updated" in handler.event_types


async def test_deleted_vendors_and_users_take_their_favourites(app, client, venta_token, plugin):
    owner, bob_headers = auth(venta_token, "owner"), auth(venta_token, "bob")
    v1, v2 = await new_vendor(client, owner, "Tacos"), await new_vendor(client, owner, "Crepes")
    bob = await user_id(client, bob_headers)
    carol = await user_id(client, auth(venta_token, "carol"))
    for user, vendor in [(bob, v1), (carol, v1), (bob, v2)]:
        await plugin.store.add(user, vendor)

    assert (await client.delete(f"/v1/vendors/{v1}", headers=owner)).status_code == 204
    assert await plugin.store.fans_of(v1) == []  # the foreign key cascades
    assert (await client.delete("/v1/me", headers=bob_headers)).status_code == 204
    assert await plugin.store.of_user(bob) == []

    [handler] = plugin.venta_event_handlers(app=app)
    await handler.handle(
        EventEnvelope.new("vendor.deleted", VendorDeletedData(id=v2, owner_id="o"))
    )
    await handler.handle(
        EventEnvelope.new("user.deleted", UserEventData(id=carol, external_id="carol"))
    )  # the events (at least once) change nothing more
    assert await plugin.store.of_user(carol) == []


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
        "venta_migrations",
        "venta_realtime_handlers",
        "venta_vendor_presence",
    }


async def test_the_routes_document_their_errors(app: Venta):
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
