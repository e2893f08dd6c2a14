"""A stand-in application whose vendor service records what each call saw."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from venta_core.context import RequestContext, current
from venta_core.domain import Actor, Vendor, VendorCreate, VendorUpdate
from venta_core.errors import VendorNotFound
from venta_core.transports.grpc.settings import GrpcSettings

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Seen:
    method: str
    context: RequestContext | None
    actor: Actor | None = None


@dataclass
class SpyVendors:
    """Answers every call with a fixed vendor; ``fail`` or ``delay`` change that."""

    seen: list[Seen] = field(default_factory=list)
    fail: BaseException | None = None
    delay: float = 0.0
    created: int = 0

    async def _enter(self, method: str, actor: Actor | None = None) -> None:
        self.seen.append(Seen(method, current(), actor))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    def _vendor(self, vendor_id: str, owner: str = "owner") -> Vendor:
        return Vendor(id=vendor_id, owner_id=owner, name="Spy", created_at=NOW, updated_at=NOW)

    async def get_vendor(self, vendor_id: str) -> Vendor:
        await self._enter("get_vendor")
        return self._vendor(vendor_id)

    async def create_vendor(self, actor: Actor, data: VendorCreate) -> Vendor:
        await self._enter("create_vendor", actor)
        self.created += 1
        return self._vendor(f"v{self.created}", actor.user_id or "")

    async def update_vendor(self, actor: Actor, vendor_id: str, data: VendorUpdate) -> Vendor:
        await self._enter("update_vendor", actor)
        return self._vendor(vendor_id)

    async def delete_vendor(self, actor: Actor, vendor_id: str) -> None:
        await self._enter("delete_vendor", actor)
        raise VendorNotFound(vendor_id)

    async def owner_of(self, vendor_id: str) -> str:
        await self._enter("owner_of")
        return "owner"


def spy_host(settings: GrpcSettings, vendors: SpyVendors) -> Any:
    """Enough of ``Venta`` for ``build_grpc_server`` with only the vendor service."""
    return SimpleNamespace(
        settings=SimpleNamespace(grpc=settings), users=None, vendors=vendors, locations=None
    )
