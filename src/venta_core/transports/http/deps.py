"""``Annotated`` dependencies of the route handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.convertors import StringConvertor, register_url_convertor

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
    "VendorIdConvertor",
    "VendorIdParam",
    "canonical_vendor_id",
    "current_actor",
    "get_venta",
    "services_of",
    "vendor_id",
]


async def get_venta(request: Request) -> VentaApp:
    venta: VentaApp = request.app.state.venta
    return venta


async def current_actor(request: Request) -> Actor:
    """The caller as an actor; ``authenticate`` is called, not declared (one dependency node
    less per request: FastAPI resolves every node anew each time)."""
    return Actor.for_user(await authenticate(request))


class VendorIdConvertor(StringConvertor):
    """A ``{vendor_id}`` path segment: any segment but ``nearby`` and ``clusters``, so
    ``/v1/vendors/nearby`` and ``/v1/vendors/clusters`` belong to those queries alone
    (``PUT /v1/vendors/nearby`` is a 405, not a vendor named "nearby" that is not found)."""

    regex = r"(?!(?:nearby|clusters)(?:/|$))[^/]+"


#: Routes write the segment as ``{vendor_id:vendor_id}``; OpenAPI shows ``{vendor_id}``.
register_url_convertor("vendor_id", VendorIdConvertor())


#: The ``{vendor_id}`` path parameter as sent (``VendorId`` is the same, canonical, as a
#: dependency). Routes with no other parameter take this and call ``canonical_vendor_id``:
#: one dependency node less per request, and the same OpenAPI parameter.
VendorIdParam = Annotated[
    str,
    Path(
        description="Vendor id (UUID). A malformed id names no vendor: 404.",
        json_schema_extra={"format": "uuid"},
    ),
]


def canonical_vendor_id(vendor_id: str) -> str:
    """The id in canonical form. A malformed id names no vendor, so it is a 404
    ``VENDOR_NOT_FOUND`` like any unknown id (see docs/api.md)."""
    canonical = canonical_uuid(vendor_id)
    if canonical is None:
        raise VendorNotFound(vendor_id[:100])
    return canonical


async def vendor_id(vendor_id: VendorIdParam) -> str:
    """``canonical_vendor_id`` as a dependency: resolved before a request body is read, so a
    malformed id is a 404 even with an invalid body."""
    return canonical_vendor_id(vendor_id)


def services_of(request: Request) -> VentaApp:
    """What ``Services`` gives, for a route that takes the ``Request`` instead (FastAPI
    resolves every dependency node anew on each request; the request itself is no node)."""
    venta: VentaApp = request.app.state.venta
    return venta


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
