"""Small in-memory doubles of the service and port Protocols the HTTP gateway uses.

They keep the domain rules the gateway relies on (ownership -> Forbidden, unknown ids ->
NotFound errors) so the transport's mapping of those errors is what the tests check.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pluggy
from fastapi import APIRouter, HTTPException

from venta_core.context import current
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
    haversine_m,
)
from venta_core.domain.cells import encode
from venta_core.errors import (
    Forbidden,
    InternalError,
    LocationNotFound,
    ServiceUnavailable,
    UserNotFound,
    VendorNotFound,
)
from venta_core.hookspecs import hookimpl
from venta_core.plugins import create_plugin_manager
from venta_core.ports.identity import DevTokenProvider
from venta_core.ports.kv import RateDecision
from venta_core.settings import Settings
from venta_core.transports.http.deps import CurrentUser


def _now() -> datetime:
    return datetime.now(UTC)


class FakeKV:
    name = "fake-kv"

    def __init__(self) -> None:
        self.windows: dict[str, tuple[float, int]] = {}
        self.fail = False
        self.keys: list[str] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        if self.fail:
            raise ConnectionError("kv down")
        self.keys.append(key)
        now = time.monotonic()
        start, count = self.windows.get(key, (now, 0))
        if now - start >= window_seconds:
            start, count = now, 0
        count += 1
        self.windows[key] = (start, count)
        reset = window_seconds - (now - start)
        return RateDecision(count <= limit, limit, max(0, limit - count), reset)

    async def set(self, key: str, value: str, ttl_seconds: float | None = None) -> None: ...
    async def get(self, key: str) -> str | None:
        return None

    async def delete(self, key: str) -> bool:
        return False


class FakeVendors:
    def __init__(self) -> None:
        self.rows: dict[str, Vendor] = {}
        self.locations: FakeLocations | None = None

    async def get_vendor(self, vendor_id: str) -> Vendor:
        if vendor_id not in self.rows:
            raise VendorNotFound(vendor_id)
        return self.rows[vendor_id]

    async def create_vendor(self, actor: Actor, data: VendorCreate) -> Vendor:
        assert actor.user_id is not None
        now = _now()
        vendor = Vendor(
            id=str(uuid.uuid4()),
            owner_id=actor.user_id,
            created_at=now,
            updated_at=now,
            **data.fields(),
        )
        self.rows[vendor.id] = vendor
        return vendor

    async def _owned(self, actor: Actor, vendor_id: str) -> Vendor:
        vendor = await self.get_vendor(vendor_id)
        if not actor.may_act_for(vendor.owner_id):
            raise Forbidden("Only the vendor's owner may change it")
        return vendor

    async def update_vendor(self, actor: Actor, vendor_id: str, data: VendorUpdate) -> Vendor:
        vendor = await self._owned(actor, vendor_id)
        updated = vendor.model_copy(update={**data.changes(), "updated_at": _now()})
        self.rows[vendor_id] = updated
        return updated

    async def delete_vendor(self, actor: Actor, vendor_id: str) -> None:
        await self._owned(actor, vendor_id)
        del self.rows[vendor_id]
        if self.locations is not None:
            self.locations.positions.pop(vendor_id, None)

    async def owner_of(self, vendor_id: str) -> str:
        return (await self.get_vendor(vendor_id)).owner_id


class FakeUsers:
    def __init__(self, vendors: FakeVendors) -> None:
        self.rows: dict[str, User] = {}
        self.vendors = vendors
        self.ensure_calls = 0

    async def ensure_user(self, external_id: str) -> User:
        self.ensure_calls += 1
        for user in self.rows.values():
            if user.external_id == external_id:
                return user
        now = _now()
        user = User(id=str(uuid.uuid4()), external_id=external_id, created_at=now, updated_at=now)
        self.rows[user.id] = user
        return user

    async def get_user(self, user_id: str) -> User:
        if user_id not in self.rows:
            raise UserNotFound(user_id)
        return self.rows[user_id]

    async def find_by_external_id(self, external_id: str) -> User | None:
        return next((u for u in self.rows.values() if u.external_id == external_id), None)

    async def delete_user(self, user_id: str) -> None:
        self.rows.pop(user_id, None)

    async def list_user_vendors(self, user_id: str) -> list[VendorSummary]:
        owned = [v for v in self.vendors.rows.values() if v.owner_id == user_id]
        return [VendorSummary(id=v.id, name=v.name) for v in owned]

    async def set_subscription(self, user_id: str, update: SubscriptionUpdate) -> Subscription:
        sub = Subscription(
            status=update.status,
            provider=update.provider,
            product_id=update.product_id,
            expires_at=update.expires_at,
            updated_at=_now(),
        )
        self.rows[user_id] = self.rows[user_id].model_copy(update={"subscription": sub})
        return sub


class FakeLocations:
    def __init__(self, vendors: FakeVendors) -> None:
        self.vendors = vendors
        self.positions: dict[str, VendorPosition] = {}
        self.calls: list[tuple[str, object]] = []

    async def update_vendor_location(
        self, actor: Actor, vendor_id: str, location: Location
    ) -> VendorPosition:
        await self.vendors._owned(actor, vendor_id)
        position = VendorPosition(id=vendor_id, location=location, updated_at=_now())
        self.positions[vendor_id] = position
        return position

    async def update_user_location(self, actor: Actor, location: Location) -> None: ...

    async def vendors_in_box(self, box: BoundingBox, limit: int) -> list[VendorPosition]:
        self.calls.append(("box", (box, limit)))
        inside = [
            p for p in self.positions.values() if box.contains(p.location.lat, p.location.long)
        ]
        return inside[:limit]

    async def vendors_near(
        self, center: Location, radius_m: float, limit: int
    ) -> list[VendorPosition]:
        self.calls.append(("near", (center, radius_m, limit)))
        found = []
        for p in self.positions.values():
            distance = haversine_m(center, p.location)
            if distance <= radius_m:
                found.append(p.model_copy(update={"distance": distance}))
        return sorted(found, key=lambda p: math.inf if p.distance is None else p.distance)[:limit]

    async def vendor_clusters(self, box: BoundingBox, precision: int) -> list[VendorCluster]:
        self.calls.append(("clusters", (box, precision)))
        cells: dict[str, list[Location]] = {}
        for p in self.positions.values():
            if box.contains(p.location.lat, p.location.long):
                cells.setdefault(encode(p.location.lat, p.location.long, precision), []).append(
                    p.location
                )
        return [
            VendorCluster(
                cell=cell,
                count=len(ls),
                location=Location(
                    lat=sum(x.lat for x in ls) / len(ls), long=sum(x.long for x in ls) / len(ls)
                ),
            )
            for cell, ls in sorted(cells.items())
        ]

    async def get_vendor_location(self, vendor_id: str) -> VendorPosition:
        if vendor_id not in self.positions:
            raise LocationNotFound(vendor_id)
        return self.positions[vendor_id]

    async def remove_vendor_location(self, actor: Actor, vendor_id: str) -> None:
        await self.vendors._owned(actor, vendor_id)
        self.positions.pop(vendor_id, None)


@dataclass
class FakeVenta:
    """Stands in for ``venta_core.app.Venta`` (structurally a ``VentaApp``)."""

    settings: Settings
    plugins: list[object] = field(default_factory=list)
    readiness_errors: dict[str, str | None] = field(
        default_factory=lambda: {"database": None, "kv": None}
    )

    def __post_init__(self) -> None:
        self.pm = create_plugin_manager(self.settings, extra=self.plugins, load_entry_points=False)
        self.identity = DevTokenProvider(self.settings.auth)
        self.kv = FakeKV()
        self.vendors = FakeVendors()
        self.users = FakeUsers(self.vendors)
        self.locations = FakeLocations(self.vendors)
        self.vendors.locations = self.locations

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    async def readiness(self) -> dict[str, str | None]:
        return dict(self.readiness_errors)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with ``status`` and ``code``; returns ``error``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details", "requestId"}, error
    assert error["code"] == code, error
    assert error["requestId"] == response.headers["x-request-id"]
    return error


class ProbePlugin:
    """A plugin adding routes that misbehave on purpose, through ``venta_http_routers``."""

    @hookimpl
    def venta_http_routers(self, app: Any) -> list[APIRouter]:
        router = APIRouter(prefix="/probe")

        @router.get("/context")
        async def context_probe(user: CurrentUser) -> dict[str, Any]:
            ctx = current()
            assert ctx is not None
            return {"requestId": ctx.request_id, "identity": ctx.identity, "userId": ctx.user_id}

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("database password=hunter2 exploded")

        @router.get("/teapot")
        async def teapot() -> None:
            raise HTTPException(status_code=418, detail="I am a teapot")

        @router.get("/internal")
        async def internal() -> None:
            raise InternalError("connection to postgres://u:hunter2@db failed")

        @router.get("/unavailable")
        async def unavailable() -> None:
            raise ServiceUnavailable("Search is down")

        return [router]


class NoRoutersPlugin:
    @hookimpl
    def venta_http_routers(self, app: Any) -> list[APIRouter] | None:
        return None


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, env="test", **overrides)  # type: ignore[call-arg]
