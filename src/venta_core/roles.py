"""Steps around start and stop that the serving roles need, whether ``venta_core.runner`` serves
them (``venta serve``) or a host application mounts venta (``venta_core.asgi``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venta_core.events import EventEnvelope, event_subject

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.ports.bus import BusMessage

__all__ = ["forget_deleted_identities", "stop_worker"]


async def forget_deleted_identities(app: Venta, cache: Any) -> None:
    """Drop a deleted user's cached identity (the HTTP gateway's ``identity_cache``) as soon as
    the ``user.deleted`` event arrives on the bus."""

    async def on_deleted(message: BusMessage) -> None:
        envelope = EventEnvelope.model_validate_json(message.data)
        cache.discard(str(envelope.data.get("externalId", "")), str(envelope.data.get("id", "")))

    subject = event_subject(app.settings.key_prefix, "user.deleted")
    await app.bus.subscribe(subject, on_deleted)


async def stop_worker(app: Venta) -> None:
    """Stop the worker role in order: the last position flush first (it may add
    ``vendor.moved`` rows to the outbox), then the relay's last pass, so the handlers get it;
    then the worker, which drains for ``worker.drain_timeout_seconds``."""
    await app.vendor_positions.stop()
    await app.user_positions.stop()
    await app.relay.stop()
    if app.worker is not None:
        await app.worker.stop()
