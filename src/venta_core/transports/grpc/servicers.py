"""Servicers: each RPC decodes its request, calls the service Protocol and encodes the result.

They hold no logic of their own. The acting identity comes from ``verified_actor()`` (set by
``IdentityServerInterceptor`` from signed metadata), never from a request field. Errors are
mapped by ``translate_errors``.
"""

from __future__ import annotations

from typing import TypeAlias

import grpc.aio

from venta_core.services.protocols import LocationService, UserService, VendorService
from venta_core.transports.grpc import codec
from venta_core.transports.grpc.errors import translate_errors
from venta_core.transports.grpc.metadata import verified_actor
from venta_core.transports.grpc.stubs import common_pb2, location_pb2, user_pb2, vendor_pb2

__all__ = ["LocationServicer", "UserServicer", "VendorServicer"]

Ctx: TypeAlias = grpc.aio.ServicerContext


class UserServicer:
    def __init__(self, service: UserService) -> None:
        self._service = service

    @translate_errors
    async def GetUser(self, request: user_pb2.GetUserRequest, context: Ctx) -> user_pb2.User:
        return codec.user_to_pb(await self._service.get_user(request.user_id))

    @translate_errors
    async def EnsureUser(self, request: user_pb2.EnsureUserRequest, context: Ctx) -> user_pb2.User:
        return codec.user_to_pb(await self._service.ensure_user(request.external_id))

    @translate_errors
    async def FindUserByExternalId(
        self, request: user_pb2.FindUserByExternalIdRequest, context: Ctx
    ) -> user_pb2.FindUserByExternalIdResponse:
        user = await self._service.find_by_external_id(request.external_id)
        return user_pb2.FindUserByExternalIdResponse(
            user=None if user is None else codec.user_to_pb(user)
        )

    @translate_errors
    async def DeleteUser(
        self, request: user_pb2.DeleteUserRequest, context: Ctx
    ) -> user_pb2.DeleteUserResponse:
        await self._service.delete_user(request.user_id)
        return user_pb2.DeleteUserResponse()

    @translate_errors
    async def ListUserVendors(
        self, request: user_pb2.ListUserVendorsRequest, context: Ctx
    ) -> user_pb2.ListUserVendorsResponse:
        vendors = await self._service.list_user_vendors(request.user_id)
        return user_pb2.ListUserVendorsResponse(vendors=[codec.summary_to_pb(v) for v in vendors])

    @translate_errors
    async def SetSubscription(
        self, request: user_pb2.SetSubscriptionRequest, context: Ctx
    ) -> user_pb2.Subscription:
        update = codec.subscription_update_from_pb(codec.required(request, "update"))
        return codec.subscription_to_pb(
            await self._service.set_subscription(request.user_id, update)
        )


class VendorServicer:
    def __init__(self, service: VendorService) -> None:
        self._service = service

    @translate_errors
    async def GetVendor(
        self, request: vendor_pb2.GetVendorRequest, context: Ctx
    ) -> vendor_pb2.Vendor:
        return codec.vendor_to_pb(await self._service.get_vendor(request.vendor_id))

    @translate_errors
    async def CreateVendor(
        self, request: vendor_pb2.CreateVendorRequest, context: Ctx
    ) -> vendor_pb2.Vendor:
        data = codec.vendor_create_from_pb(codec.required(request, "vendor"))
        return codec.vendor_to_pb(await self._service.create_vendor(verified_actor(), data))

    @translate_errors
    async def UpdateVendor(
        self, request: vendor_pb2.UpdateVendorRequest, context: Ctx
    ) -> vendor_pb2.Vendor:
        data = codec.vendor_update_from_pb(codec.required(request, "update"))
        vendor = await self._service.update_vendor(verified_actor(), request.vendor_id, data)
        return codec.vendor_to_pb(vendor)

    @translate_errors
    async def DeleteVendor(
        self, request: vendor_pb2.DeleteVendorRequest, context: Ctx
    ) -> vendor_pb2.DeleteVendorResponse:
        await self._service.delete_vendor(verified_actor(), request.vendor_id)
        return vendor_pb2.DeleteVendorResponse()

    @translate_errors
    async def GetVendorOwner(
        self, request: vendor_pb2.GetVendorOwnerRequest, context: Ctx
    ) -> vendor_pb2.GetVendorOwnerResponse:
        owner_id = await self._service.owner_of(request.vendor_id)
        return vendor_pb2.GetVendorOwnerResponse(owner_id=owner_id)


class LocationServicer:
    def __init__(self, service: LocationService) -> None:
        self._service = service

    @translate_errors
    async def UpdateVendorLocation(
        self, request: location_pb2.UpdateVendorLocationRequest, context: Ctx
    ) -> common_pb2.VendorPosition:
        location = codec.location_from_pb(codec.required(request, "location"))
        position = await self._service.update_vendor_location(
            verified_actor(), request.vendor_id, location
        )
        return codec.position_to_pb(position)

    @translate_errors
    async def UpdateUserLocation(
        self, request: location_pb2.UpdateUserLocationRequest, context: Ctx
    ) -> location_pb2.UpdateUserLocationResponse:
        location = codec.location_from_pb(codec.required(request, "location"))
        await self._service.update_user_location(verified_actor(), location)
        return location_pb2.UpdateUserLocationResponse()

    @translate_errors
    async def VendorsInBox(
        self, request: location_pb2.VendorsInBoxRequest, context: Ctx
    ) -> location_pb2.VendorPositions:
        box = codec.box_from_pb(codec.required(request, "box"))
        positions = await self._service.vendors_in_box(box, request.limit)
        return location_pb2.VendorPositions(vendors=[codec.position_to_pb(p) for p in positions])

    @translate_errors
    async def VendorsNear(
        self, request: location_pb2.VendorsNearRequest, context: Ctx
    ) -> location_pb2.VendorPositions:
        center = codec.location_from_pb(codec.required(request, "center"))
        positions = await self._service.vendors_near(center, request.radius_m, request.limit)
        return location_pb2.VendorPositions(vendors=[codec.position_to_pb(p) for p in positions])

    @translate_errors
    async def ListVendorClusters(
        self, request: location_pb2.VendorClustersRequest, context: Ctx
    ) -> location_pb2.VendorClusters:
        box = codec.box_from_pb(codec.required(request, "box"))
        clusters = await self._service.vendor_clusters(box, request.precision)
        return location_pb2.VendorClusters(clusters=[codec.cluster_to_pb(c) for c in clusters])

    @translate_errors
    async def GetVendorLocation(
        self, request: location_pb2.GetVendorLocationRequest, context: Ctx
    ) -> common_pb2.VendorPosition:
        return codec.position_to_pb(await self._service.get_vendor_location(request.vendor_id))

    @translate_errors
    async def RemoveVendorLocation(
        self, request: location_pb2.RemoveVendorLocationRequest, context: Ctx
    ) -> location_pb2.RemoveVendorLocationResponse:
        await self._service.remove_vendor_location(verified_actor(), request.vendor_id)
        return location_pb2.RemoveVendorLocationResponse()
