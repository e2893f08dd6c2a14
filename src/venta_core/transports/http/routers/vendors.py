"""Vendor records: create, read, partial update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from venta_core.domain import VendorCreate, VendorUpdate
from venta_core.transports.http.deps import Authenticated, CurrentActor, Services, VendorId
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    VendorCreated,
    VendorOut,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(tags=["vendors"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated])

_OWNER_ERRORS = error_responses(403, 404, 413)


@router.post(
    "/v1/vendors",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413),
    summary="Create a vendor owned by the caller",
)
async def create_vendor(
    body: VendorCreate, actor: CurrentActor, services: Services, response: Response
) -> VendorCreated:
    vendor = await services.vendors.create_vendor(actor, body)
    response.headers["Location"] = f"/v1/vendors/{vendor.id}"
    return VendorCreated(id=vendor.id)


@router.get("/v1/vendors/{vendor_id:vendor_id}", responses=error_responses(404), summary="A vendor")
async def get_vendor(vendor_id: VendorId, services: Services) -> VendorOut:
    return VendorOut.of(await services.vendors.get_vendor(vendor_id))


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
