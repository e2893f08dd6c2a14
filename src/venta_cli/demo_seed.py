"""`venta demo seed`: demo vendors around a city, written so that the server shows them.

Where the vendors go:

- *Through a running server* (the usual case): its HTTP API, as the demo owner, with
  development tokens minted from the local settings. The server stores them, puts their
  positions in its geo index and relays their events to its search index, like any client's
  request, so its map and search show them at once.
- *Into the database* ("embedded"), only when no server answers: the configured database is
  written directly. Live positions reach the database (the write-behind flushes at the end)
  and the events stay in the outbox, unsent, for the server's relay: the next `venta serve`
  loads the positions into its geo index at start and relays the events to search. Nothing is
  relayed here: this process's in-process stream would take the events to nobody.

Seeding is idempotent: the demo owner (subject ``demo-vendor-owner``) keeps its vendors between
runs, and a vendor whose name the owner already has is reused (description and open state set
again, position refreshed) rather than created again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from venta_core.domain import Actor, Location, VendorCreate, VendorUpdate
from venta_core.settings import Settings

if TYPE_CHECKING:
    from venta_cli.api_client import ApiClient
    from venta_core.app import Venta

__all__ = [
    "CITIES",
    "OWNER_SUBJECT",
    "USER_SUBJECT",
    "Planned",
    "Seeded",
    "plan",
    "seed_embedded",
    "seed_over_http",
]

OWNER_SUBJECT = "demo-vendor-owner"
USER_SUBJECT = "demo-user"

CITIES: dict[str, tuple[float, float]] = {
    "berlin": (52.5200, 13.4050),
    "london": (51.5072, -0.1276),
    "new-york": (40.7128, -74.0060),
    "paris": (48.8566, 2.3522),
    "san-francisco": (37.7749, -122.4194),
    "tokyo": (35.6762, 139.6503),
}
NAMES = [
    "Taco Truck",
    "Falafel Stand",
    "Coffee Cart",
    "Crepe Corner",
    "Dumpling Wagon",
    "Ice Cream Bike",
    "Pretzel Stall",
    "Ramen Van",
    "Smoothie Stop",
    "Waffle Wheels",
]


@dataclass(frozen=True)
class Planned:
    name: str
    lat: float
    long: float


@dataclass(frozen=True)
class Seeded:
    id: str
    name: str
    lat: float
    long: float
    created: bool


def plan(city: str, count: int, seed: int) -> list[Planned]:
    """``count`` named vendors placed around ``city``; the same for the same ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - demo positions, not secrets
    lat0, long0 = CITIES[city]
    return [
        Planned(
            f"{NAMES[i % len(NAMES)]} #{i + 1}",
            lat0 + rng.uniform(-0.03, 0.03),
            long0 + rng.uniform(-0.05, 0.05),
        )
        for i in range(count)
    ]


def description(city: str) -> str:
    return f"Demo vendor in {city}"


class _Target(Protocol):
    """What seeding needs of where the vendors go, as the demo owner."""

    async def owned(self) -> dict[str, str]:
        """The owner's vendors: name -> id (the oldest of a name)."""
        ...

    async def ensure_demo_user(self) -> None: ...

    async def state(self, vendor_id: str) -> tuple[str | None, bool]:
        """The vendor's description and open state."""
        ...

    async def create(self, name: str, description: str) -> str: ...

    async def update(self, vendor_id: str, description: str) -> None:
        """Set the description and open the vendor."""
        ...

    async def move(self, vendor_id: str, lat: float, long: float) -> None: ...


async def _seed(target: _Target, city: str, planned: list[Planned]) -> list[Seeded]:
    wanted = description(city)
    existing = await target.owned()
    await target.ensure_demo_user()
    seeded: list[Seeded] = []
    for p in planned:
        vendor_id = existing.get(p.name)
        created = vendor_id is None
        if vendor_id is None:
            vendor_id = await target.create(p.name, wanted)
        elif await target.state(vendor_id) != (wanted, True):
            await target.update(vendor_id, wanted)
        await target.move(vendor_id, p.lat, p.long)
        seeded.append(Seeded(vendor_id, p.name, p.lat, p.long, created))
    return seeded


class _Http:
    def __init__(self, api: ApiClient) -> None:
        self._api = api

    async def owned(self) -> dict[str, str]:
        mine = await self._api.call("GET", "/v1/me/vendors", OWNER_SUBJECT)
        return _first_by_name((str(v["name"]), str(v["id"])) for v in mine)

    async def ensure_demo_user(self) -> None:
        await self._api.call("GET", "/v1/me", USER_SUBJECT)

    async def state(self, vendor_id: str) -> tuple[str | None, bool]:
        vendor = await self._api.call("GET", f"/v1/vendors/{vendor_id}", OWNER_SUBJECT)
        return vendor.get("description"), bool(vendor.get("open"))

    async def create(self, name: str, description: str) -> str:
        body = {"name": name, "description": description, "open": True}
        return str((await self._api.call("POST", "/v1/vendors", OWNER_SUBJECT, body))["id"])

    async def update(self, vendor_id: str, description: str) -> None:
        body = {"description": description, "open": True}
        await self._api.call("PUT", f"/v1/vendors/{vendor_id}", OWNER_SUBJECT, body)

    async def move(self, vendor_id: str, lat: float, long: float) -> None:
        path = f"/v1/vendors/{vendor_id}/location"
        await self._api.call("PUT", path, OWNER_SUBJECT, {"lat": lat, "long": long})


async def seed_over_http(
    url: str,
    tokens: Callable[[str], str],
    city: str,
    planned: list[Planned],
    *,
    on_wait: Callable[[float], None] | None = None,
) -> list[Seeded]:
    """Seed through the HTTP API of the server at ``url``."""
    from venta_cli.api_client import ApiClient

    async with ApiClient(url, tokens, on_wait=on_wait) as api:
        return await _seed(_Http(api), city, planned)


class _Embedded:
    def __init__(self, app: Venta, owner: Actor) -> None:
        self._app = app
        self._owner = owner

    async def owned(self) -> dict[str, str]:
        mine = await self._app.users.list_user_vendors(self._owner.user_id or "")
        return _first_by_name((v.name, v.id) for v in mine)

    async def ensure_demo_user(self) -> None:
        await self._app.users.ensure_user(USER_SUBJECT)

    async def state(self, vendor_id: str) -> tuple[str | None, bool]:
        vendor = await self._app.vendors.get_vendor(vendor_id)
        return vendor.description, vendor.open

    async def create(self, name: str, description: str) -> str:
        data = VendorCreate(name=name, description=description, open=True)
        return (await self._app.vendors.create_vendor(self._owner, data)).id

    async def update(self, vendor_id: str, description: str) -> None:
        data = VendorUpdate(description=description, open=True)
        await self._app.vendors.update_vendor(self._owner, vendor_id, data)

    async def move(self, vendor_id: str, lat: float, long: float) -> None:
        location = Location(lat=lat, long=long)
        await self._app.locations.update_vendor_location(self._owner, vendor_id, location)


async def seed_embedded(settings: Settings, city: str, planned: list[Planned]) -> list[Seeded]:
    """Seed straight into the database of ``settings``, leaving the events in the outbox for a
    server's relay (see the module docstring)."""
    from venta_core.app import Venta

    events = settings.events.model_copy(update={"relay_enabled": False})
    async with Venta(settings.model_copy(update={"events": events})) as app:
        owner = Actor.for_user(await app.users.ensure_user(OWNER_SUBJECT))
        return await _seed(_Embedded(app, owner), city, planned)


def _first_by_name(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, vendor_id in pairs:
        found.setdefault(name, vendor_id)
    return found
