"""Transports: the ways the outside world reaches the services (HTTP, gRPC, real-time).

Transports are built against ``VentaApp``, the structural view of the application object they
need, rather than ``venta_core.app.Venta`` itself: the layer contract forbids a transport
importing ``venta_core.app`` (the application imports the transports, not the reverse), and a
Protocol lets tests hand a transport a small fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pluggy

    from venta_core.ports.identity import IdentityProvider
    from venta_core.ports.kv import KeyValueStore
    from venta_core.services.protocols import LocationService, UserService, VendorService
    from venta_core.settings import Settings

__all__ = ["VentaApp"]


class VentaApp(Protocol):
    """What a transport uses of the application; ``venta_core.app.Venta`` satisfies it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def hook(self) -> pluggy.HookRelay: ...

    @property
    def identity(self) -> IdentityProvider: ...

    @property
    def kv(self) -> KeyValueStore: ...

    @property
    def users(self) -> UserService: ...

    @property
    def vendors(self) -> VendorService: ...

    @property
    def locations(self) -> LocationService: ...

    async def readiness(self) -> dict[str, str | None]:
        """Component name -> ``None`` when reachable, else the error text."""
        ...
