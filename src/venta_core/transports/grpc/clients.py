"""gRPC clients implementing the service Protocols, so callers cannot tell local from remote.

Retry policy (transport-level UNAVAILABLE only, see ``channels.RpcCaller``):

* retried: reads, ``ensure_user``, deletes, setting a location, ``set_subscription`` with an
  ``event_id`` (the service deduplicates it);
* never retried: ``create_vendor`` (a retry after a lost reply would create a second vendor),
  ``update_vendor`` (each applied update emits an event) and ``set_subscription`` without an
  ``event_id``.

``GrpcClients`` builds the three clients over one ``ChannelPool``; it is a component (start/stop)
so the application closes the channels on shutdown. ``GrpcClients.metrics`` is a Prometheus
collector (calls by service, method and final code, latency, retries) that the process registers
in the registry its ``/metrics`` renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from venta_core.domain import (
    Actor,
    BoundingBox,
    Location,
    Subscription,
    SubscriptionUpdate,
    User,
    Vendor,
    VendorCluster,
    VendorCreate,
    VendorPosition,
    VendorSummary,
    VendorUpdate,
)
from venta_core.observability.grpc_metrics import GrpcClientMetrics
from venta_core.transports.grpc import codec
from venta_core.transports.grpc.channels import ChannelPool, RpcCaller
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.stubs import (
    location_pb2,
    location_pb2_grpc,
    user_pb2,
    user_pb2_grpc,
    vendor_pb2,
    vendor_pb2_grpc,
)

__all__ = ["GrpcClients", "GrpcLocationClient", "GrpcUserClient", "GrpcVendorClient"]


def _nothing(_: Any) -> None:
    return None


def _positions(reply: location_pb2.VendorPositions) -> list[VendorPosition]:
    return [codec.position_from_pb(p) for p in reply.vendors]


def _optional_user(reply: user_pb2.FindUserByExternalIdResponse) -> User | None:
    return codec.user_from_pb(reply.user) if reply.HasField("user") else None


def _owner_id(reply: vendor_pb2.GetVendorOwnerResponse) -> str:
    return reply.owner_id


def _summaries(reply: user_pb2.ListUserVendorsResponse) -> list[VendorSummary]:
    return [codec.summary_from_pb(v) for v in reply.vendors]


class GrpcUserClient:
    """``UserService`` served by a remote process."""

    def __init__(self, pool: ChannelPool, address: str) -> None:
        self._call = RpcCaller(pool, address, "user", user_pb2_grpc.UserServiceStub)

    async def ensure_user(self, external_id: str) -> User:
        return await self._call(
            "EnsureUser",
            lambda: user_pb2.EnsureUserRequest(external_id=external_id),
            codec.user_from_pb,
            idempotent=True,
        )

    async def get_user(self, user_id: str) -> User:
        return await self._call(
            "GetUser",
            lambda: user_pb2.GetUserRequest(user_id=user_id),
            codec.user_from_pb,
            idempotent=True,
        )

    async def find_by_external_id(self, external_id: str) -> User | None:
        return await self._call(
            "FindUserByExternalId",
            lambda: user_pb2.FindUserByExternalIdRequest(external_id=external_id),
            _optional_user,
            idempotent=True,
        )

    async def delete_user(self, user_id: str) -> None:
        await self._call(
            "DeleteUser",
            lambda: user_pb2.DeleteUserRequest(user_id=user_id),
            _nothing,
            idempotent=True,
        )

    async def list_user_vendors(self, user_id: str) -> list[VendorSummary]:
        return await self._call(
            "ListUserVendors",
            lambda: user_pb2.ListUserVendorsRequest(user_id=user_id),
            _summaries,
            idempotent=True,
        )

    async def set_subscription(self, user_id: str, update: SubscriptionUpdate) -> Subscription:
        return await self._call(
            "SetSubscription",
            lambda: user_pb2.SetSubscriptionRequest(
                user_id=user_id, update=codec.subscription_update_to_pb(update)
            ),
            codec.subscription_from_pb,
            idempotent=update.event_id is not None,
        )


class GrpcVendorClient:
    """``VendorService`` served by a remote process."""

    def __init__(self, pool: ChannelPool, address: str) -> None:
        self._call = RpcCaller(pool, address, "vendor", vendor_pb2_grpc.VendorServiceStub)

    async def get_vendor(self, vendor_id: str) -> Vendor:
        return await self._call(
            "GetVendor",
            lambda: vendor_pb2.GetVendorRequest(vendor_id=vendor_id),
            codec.vendor_from_pb,
            idempotent=True,
        )

    async def create_vendor(self, actor: Actor, data: VendorCreate) -> Vendor:
        return await self._call(
            "CreateVendor",
            lambda: vendor_pb2.CreateVendorRequest(vendor=codec.vendor_create_to_pb(data)),
            codec.vendor_from_pb,
            idempotent=False,
            actor=actor,
        )

    async def update_vendor(self, actor: Actor, vendor_id: str, data: VendorUpdate) -> Vendor:
        return await self._call(
            "UpdateVendor",
            lambda: vendor_pb2.UpdateVendorRequest(
                vendor_id=vendor_id, update=codec.vendor_update_to_pb(data)
            ),
            codec.vendor_from_pb,
            idempotent=False,
            actor=actor,
        )

    async def delete_vendor(self, actor: Actor, vendor_id: str) -> None:
        await self._call(
            "DeleteVendor",
            lambda: vendor_pb2.DeleteVendorRequest(vendor_id=vendor_id),
            _nothing,
            idempotent=True,
            actor=actor,
        )

    async def owner_of(self, vendor_id: str) -> str:
        return await self._call(
            "GetVendorOwner",
            lambda: vendor_pb2.GetVendorOwnerRequest(vendor_id=vendor_id),
            _owner_id,
            idempotent=True,
        )


class GrpcLocationClient:
    """``LocationService`` served by a remote process."""

    def __init__(self, pool: ChannelPool, address: str) -> None:
        self._call = RpcCaller(pool, address, "location", location_pb2_grpc.LocationServiceStub)

    async def update_vendor_location(
        self, actor: Actor, vendor_id: str, location: Location
    ) -> VendorPosition:
        return await self._call(
            "UpdateVendorLocation",
            lambda: location_pb2.UpdateVendorLocationRequest(
                vendor_id=vendor_id, location=codec.location_to_pb(location)
            ),
            codec.position_from_pb,
            idempotent=True,
            actor=actor,
        )

    async def update_user_location(self, actor: Actor, location: Location) -> None:
        await self._call(
            "UpdateUserLocation",
            lambda: location_pb2.UpdateUserLocationRequest(location=codec.location_to_pb(location)),
            _nothing,
            idempotent=True,
            actor=actor,
        )

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        return await self._call(
            "VendorsInBox",
            lambda: location_pb2.VendorsInBoxRequest(box=codec.box_to_pb(box), limit=limit),
            _positions,
            idempotent=True,
        )

    async def vendors_near(
        self, center: Location, radius_m: float, limit: int
    ) -> list[VendorPosition]:
        return await self._call(
            "VendorsNear",
            lambda: location_pb2.VendorsNearRequest(
                center=codec.location_to_pb(center), radius_m=radius_m, limit=limit
            ),
            _positions,
            idempotent=True,
        )

    async def vendor_clusters(self, box: BoundingBox, precision: int) -> list[VendorCluster]:
        return await self._call(
            "ListVendorClusters",
            lambda: location_pb2.VendorClustersRequest(
                box=codec.box_to_pb(box), precision=precision
            ),
            lambda reply: [codec.cluster_from_pb(c) for c in reply.clusters],
            idempotent=True,
        )

    async def get_vendor_location(self, vendor_id: str) -> VendorPosition:
        return await self._call(
            "GetVendorLocation",
            lambda: location_pb2.GetVendorLocationRequest(vendor_id=vendor_id),
            codec.position_from_pb,
            idempotent=True,
        )

    async def remove_vendor_location(self, actor: Actor, vendor_id: str) -> None:
        await self._call(
            "RemoveVendorLocation",
            lambda: location_pb2.RemoveVendorLocationRequest(vendor_id=vendor_id),
            _nothing,
            idempotent=True,
            actor=actor,
        )


class GrpcClients:
    """The clients of remote services of one process, sharing channels (one per address).

    A component (``start``/``stop`` close the channels) and a readiness check: ``check()``
    asks each remote service's standard health service whether it is SERVING.
    """

    name = "grpc-services"

    def __init__(self, settings: GrpcSettings, *, interceptors: Sequence[Any] = ()) -> None:
        self.pool = ChannelPool(settings, interceptors=interceptors)
        self._remote: dict[str, str] = {}  # full service name -> address

    @property
    def metrics(self) -> GrpcClientMetrics:
        """Calls made through these clients: ``registry.register(clients.metrics)``."""
        return self.pool.metrics

    def users(self, address: str) -> GrpcUserClient:
        self._remote["venta.v1.UserService"] = address
        return GrpcUserClient(self.pool, address)

    def vendors(self, address: str) -> GrpcVendorClient:
        self._remote["venta.v1.VendorService"] = address
        return GrpcVendorClient(self.pool, address)

    def locations(self, address: str) -> GrpcLocationClient:
        self._remote["venta.v1.LocationService"] = address
        return GrpcLocationClient(self.pool, address)

    async def start(self) -> None:
        """Channels open lazily on first use; nothing to do."""

    async def stop(self) -> None:
        await self.pool.close(grace=1.0)

    async def check(self) -> None:
        """Raise unless every remote service answers SERVING."""
        problems = []
        for service, address in sorted(self._remote.items()):
            stub = health_pb2_grpc.HealthStub(self.pool.channel(address))
            request = health_pb2.HealthCheckRequest(service=service)
            try:
                reply = await stub.Check(request, timeout=self.pool.settings.deadline_seconds)
            except grpc.aio.AioRpcError as exc:
                problems.append(f"{service} at {address}: {exc.code().name}")
                continue
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                problems.append(f"{service} at {address}: {status}")
        if problems:
            raise ConnectionError("; ".join(problems))
