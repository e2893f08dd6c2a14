"""The pin directory subscribes to vendor events only once it is asked for pins: a process
that never shows a map (a worker) does not receive and decode every vendor event for it."""

from __future__ import annotations

import asyncio

import pytest

from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate, VendorUpdate
from venta_core.ports.bus import EventBus, Handler, Subscription
from venta_core.services.pins import PinDirectory

pytestmark = pytest.mark.integration


class RecordingBus:
    """``EventBus`` of the application, recording what is subscribed to."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.subjects: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        self.subjects.append(subject)
        return await self.inner.subscribe(subject, handler, queue)


async def test_vendor_events_are_subscribed_to_at_the_first_ask(app: Venta) -> None:
    bus = RecordingBus(app.bus)
    pins = PinDirectory(app.database, bus, prefix=app.settings.key_prefix)  # type: ignore[arg-type]
    owner = Actor.for_user(await app.users.ensure_user("pin-owner"))
    await pins.start()
    try:
        vendor = await app.vendors.create_vendor(owner, VendorCreate(name="Taco"))
        assert bus.subjects == []

        assert (await pins.pins([vendor.id]))[vendor.id].name == "Taco"
        await pins.pins([vendor.id])
        prefix = app.settings.key_prefix
        assert sorted(bus.subjects) == [
            f"{prefix}.events.vendor.{t}" for t in ("created", "deleted", "moved", "updated")
        ]

        await app.vendors.update_vendor(owner, vendor.id, VendorUpdate(name="Taco Loco"))
        for _ in range(200):  # relayed from the outbox, then on the bus
            held = pins.cached(vendor.id)
            if held is not None and held.name == "Taco Loco":
                break
            await asyncio.sleep(0.02)
        assert held is not None and held.name == "Taco Loco"
    finally:
        await pins.stop()
