"""``/v1/favourites``: the caller's favourite vendors."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from venta_core import error_responses
from venta_core.transports.http.deps import Authenticated, CurrentUser, Services, VendorId

from venta_favourites.store import FavouriteStore

__all__ = ["FavouritesOut", "create_router"]


class FavouritesOut(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )

    vendor_ids: list[str]


def create_router(store: FavouriteStore) -> APIRouter:
    router = APIRouter(
        prefix="/v1/favourites",
        tags=["favourites"],
        dependencies=[Authenticated],
        responses=error_responses(400, 401, 429, 500),  # what any authenticated route may answer
    )

    @router.get("", summary="The caller's favourite vendors")
    async def list_favourites(user: CurrentUser) -> FavouritesOut:
        return FavouritesOut(vendor_ids=await store.of_user(user.id))

    @router.put(
        "/{vendor_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Add a favourite",
        responses=error_responses(
            404, descriptions={409: "CONFLICT: the caller has the most favourites allowed"}
        ),
    )
    async def add_favourite(vendor_id: VendorId, user: CurrentUser, services: Services) -> Response:
        await services.vendors.get_vendor(vendor_id)  # 404 VENDOR_NOT_FOUND when unknown
        await store.add(user.id, vendor_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete(
        "/{vendor_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Remove a favourite",
        responses=error_responses(404),  # a malformed vendor id names no vendor
    )
    async def remove_favourite(vendor_id: VendorId, user: CurrentUser) -> Response:
        await store.remove(user.id, vendor_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
