"""Vendor records: create, read, partial update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from venta_core.domain import VendorCreate, VendorUpdate
from venta_core.transports.http.deps import (
    Authenticated,
    CurrentActor,
    Services,
    VendorId,
    VendorIdParam,
    canonical_vendor_id,
    services_of,
)
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    VendorCreated,
    VendorOut,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(tags=["vendors"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated])

_OWNER_ERRORS = error_responses(403, 404, 413)


def _vendor_links() -> dict[str, Any]:
    """OpenAPI links from a created vendor's ``id`` to the routes that take it, so clients
    (and fuzzers) can follow them. Not to ``GET .../location``: a new vendor has no position
    (404 LOCATION_NOT_FOUND) until one is set."""
    targets = {
        "GetVendor": ("/v1/vendors/{vendor_id}", "get"),
        "UpdateVendor": ("/v1/vendors/{vendor_id}", "put"),
        "DeleteVendor": ("/v1/vendors/{vendor_id}", "delete"),
        "SetVendorLocation": ("/v1/vendors/{vendor_id}/location", "put"),
        "SeedGetVendor": ("/vendor/{vendor_id}", "get"),
        "SeedUpdateVendor": ("/vendor/{vendor_id}", "put"),
    }
    links = {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + verb,
            "parameters": {"vendor_id": "$response.body#/id"},
        }
        for name, (path, verb) in targets.items()
    }
    return {"responses": {"201": {"links": links}}}


@router.post(
    "/v1/vendors",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413),
    summary="Create a vendor owned by the caller",
    openapi_extra=_vendor_links(),
)
async def create_vendor(
    body: VendorCreate, actor: CurrentActor, services: Services, response: Response
) -> VendorCreated:
    vendor = await services.vendors.create_vendor(actor, body)
    response.headers["Location"] = f"/v1/vendors/{vendor.id}"
    return VendorCreated(id=vendor.id)


@router.get("/v1/vendors/{vendor_id:vendor_id}", responses=error_responses(404), summary="A vendor")
async def get_vendor(vendor_id: VendorIdParam, request: Request) -> VendorOut:
    # A hot route: the id and the services without dependency nodes of their own.
    vendor = await services_of(request).vendors.get_vendor(canonical_vendor_id(vendor_id))
    return VendorOut.of(vendor)


@router.put(
    "/v1/vendors/{vendor_id:vendor_id}",
    responses=_OWNER_ERRORS,
    summary="Update a vendor (owner): only the fields sent change; null clears one",
)
async def update_vendor(
    body: VendorUpdate, actor: CurrentActor, vendor_id: VendorId, services: Services
) -> VendorOut:
    return VendorOut.of(await services.vendors.update_vendor(actor, vendor_id, body))


@router.delete(
    "/v1/vendors/{vendor_id:vendor_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(403, 404),
    summary="Delete a vendor and its live position (owner)",
)
async def delete_vendor(actor: CurrentActor, vendor_id: VendorId, services: Services) -> None:
    await services.vendors.delete_vendor(actor, vendor_id)
