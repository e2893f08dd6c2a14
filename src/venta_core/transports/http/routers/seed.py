"""The seed system's paths, kept so its existing mobile clients keep working.

They answer the seed's exact response envelopes but share the canonical routes' validation,
authorisation and error envelope. They appear in the OpenAPI document under the
"seed aliases" tag, marked deprecated, so new clients use ``/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from venta_core.domain import VendorCreate, VendorUpdate
from venta_core.transports.http.deps import (
    Authenticated,
    CurrentActor,
    CurrentUser,
    Services,
    VendorId,
)
from venta_core.transports.http.schemas import (
    AUTHENTICATED_ERRORS,
    SeedUpdated,
    SeedVendorList,
    SeedVendorResponse,
    VendorCreated,
    VendorOut,
    VendorSummaryOut,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(
    tags=["seed aliases"],
    deprecated=True,
    responses=AUTHENTICATED_ERRORS,
    dependencies=[Authenticated],
)


@router.get("/user/vendors", summary="Alias of GET /v1/me/vendors: {vendors: [...]}")
async def seed_list_vendors(user: CurrentUser, services: Services) -> SeedVendorList:
    summaries = await services.users.list_user_vendors(user.id)
    return SeedVendorList(vendors=[VendorSummaryOut.of(v) for v in summaries])


@router.post(
    "/vendor",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413),
    summary="Alias of POST /v1/vendors",
)
async def seed_create_vendor(
    body: VendorCreate, actor: CurrentActor, services: Services
) -> VendorCreated:
    vendor = await services.vendors.create_vendor(actor, body)
    return VendorCreated(id=vendor.id)


@router.get(
    "/vendor/{vendor_id}",
    responses=error_responses(404),
    summary="Alias of GET /v1/vendors/{id}: {vendor: {...}}",
)
async def seed_get_vendor(vendor_id: VendorId, services: Services) -> SeedVendorResponse:
    return SeedVendorResponse(vendor=VendorOut.of(await services.vendors.get_vendor(vendor_id)))


@router.put(
    "/vendor/{vendor_id}",
    responses=error_responses(403, 404, 413),
    summary="Alias of PUT /v1/vendors/{id}: {message, success}",
)
async def seed_update_vendor(
    body: VendorUpdate, actor: CurrentActor, vendor_id: VendorId, services: Services
) -> SeedUpdated:
    await services.vendors.update_vendor(actor, vendor_id, body)
    return SeedUpdated()
