"""The caller: ``/v1/me``, the vendors they own, and deleting their account."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from venta_core.errors import AccountDeleted, UserNotFound
from venta_core.transports.http.auth import forget_deleted_caller
from venta_core.transports.http.deps import Authenticated, CurrentUser, Services
from venta_core.transports.http.schemas import AUTHENTICATED_ERRORS, MeResponse, VendorSummaryOut

__all__ = ["router"]

router = APIRouter(tags=["me"], responses=AUTHENTICATED_ERRORS, dependencies=[Authenticated])


@router.get("/v1/me", summary="The caller: ids, subscription, last known location")
async def get_me(request: Request, user: CurrentUser, services: Services) -> MeResponse:
    # The authenticated user may come from the identity cache; read the row afresh so the
    # subscription shown is current.
    try:
        return MeResponse.of(await services.users.get_user(user.id))
    except UserNotFound:
        forget_deleted_caller(request, user)
        raise AccountDeleted() from None


@router.get("/v1/me/vendors", summary="Vendors the caller owns")
async def list_my_vendors(user: CurrentUser, services: Services) -> list[VendorSummaryOut]:
    return [VendorSummaryOut.of(v) for v in await services.users.list_user_vendors(user.id)]


@router.delete(
    "/v1/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete the caller's account: the user, their vendors and live positions, "
    "their subscription",
)
async def delete_me(request: Request, user: CurrentUser, services: Services) -> None:
    await services.users.delete_user(user.id)
    # This process forgets the subject now; the others when `user.deleted` reaches them.
    forget_deleted_caller(request, user)
