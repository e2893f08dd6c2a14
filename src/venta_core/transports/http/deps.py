"""``Annotated`` dependencies of the route handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from venta_core.domain import Actor, User
from venta_core.errors import VendorNotFound
from venta_core.services.ids import canonical_uuid
from venta_core.transports import VentaApp
from venta_core.transports.http.auth import authenticate

__all__ = [
    "Authenticated",
    "CurrentActor",
    "CurrentUser",
    "Services",
    "VendorId",
    "get_venta",
    "vendor_id",
]


def get_venta(request: Request) -> VentaApp:
    venta: VentaApp = request.app.state.venta
    return venta


async def current_actor(user: Annotated[User, Depends(authenticate)]) -> Actor:
    return Actor.for_user(user)


def vendor_id(
    vendor_id: Annotated[str, Path(description="Vendor id (UUID).")],
) -> str:
    """The id in canonical form. A malformed id names no vendor, so it is a 404
    ``VENDOR_NOT_FOUND`` like any unknown id (see docs/api.md)."""
    canonical = canonical_uuid(vendor_id)
    if canonical is None:
        raise VendorNotFound(vendor_id[:100])
    return canonical


#: Router/route dependency: authentication required (resolved once, before other parameters).
Authenticated = Depends(authenticate)
#: The application: ``.users``, ``.vendors``, ``.locations``, ``.settings``.
Services = Annotated[VentaApp, Depends(get_venta)]
#: The authenticated caller (401 without a valid bearer token).
CurrentUser = Annotated[User, Depends(authenticate)]
#: The caller as the acting party of a service call.
CurrentActor = Annotated[Actor, Depends(current_actor)]
#: A vendor id path parameter, validated as a UUID.
VendorId = Annotated[str, Depends(vendor_id)]
