"""venta_core: the library behind the ``venta`` command.

Domain services are plain async classes behind Protocols, wired by the ``Venta`` application
object from ``Settings`` and exposed by transports (HTTP, gRPC, events, real-time). The names
below are the public, semver-stable surface (docs/library.md); everything else is internal.
The runner, the ASGI helpers, ``error_responses`` and the real-time handler types load on
first use, so importing venta_core stays light.
"""

from __future__ import annotations

import os

# gRPC's C core writes its own log lines straight to stderr, outside Python logging: INFO
# chatter such as "Got goaway ... Cancelling all calls" at every server stop and TLS handshake
# failures, and absl's "All log messages before absl::InitializeLog()..." before the first.
# GRPC_VERBOSITY is its documented switch, read once when grpc is first imported (every venta
# module importing grpc imports this package first): errors only, unless the user chose a level.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import importlib
from typing import TYPE_CHECKING, Any

from venta_core import errors
from venta_core.app import Venta
from venta_core.domain import (
    Actor,
    BoundingBox,
    Identity,
    Location,
    Subscription,
    SubscriptionStatus,
    SubscriptionUpdate,
    User,
    Vendor,
    VendorCreate,
    VendorPosition,
    VendorSummary,
    VendorUpdate,
)
from venta_core.errors import (
    Conflict,
    Forbidden,
    LocationNotFound,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
    UserNotFound,
    ValidationFailed,
    VendorNotFound,
    VentaError,
)
from venta_core.events import EventEnvelope, EventHandler, PoisonEvent
from venta_core.hookspecs import hookimpl
from venta_core.providers import MissingPort, first_answer
from venta_core.services.protocols import LocationService, UserService, VendorService
from venta_core.settings import Settings, SettingsError, load_settings
from venta_core.store.branches import PluginMigrations

if TYPE_CHECKING:
    from venta_core.asgi import VentaASGI, create_asgi_app, mount
    from venta_core.runner import ROLES, Role, RunnerError, run, serve
    from venta_core.transports.http.schemas import error_responses
    from venta_core.transports.realtime.extensions import Emit, RealtimeCaller, RealtimeHandler

__all__ = [
    "ROLES",
    "Actor",
    "BoundingBox",
    "Conflict",
    "Emit",
    "EventEnvelope",
    "EventHandler",
    "Forbidden",
    "Identity",
    "Location",
    "LocationNotFound",
    "LocationService",
    "MissingPort",
    "NotFound",
    "PluginMigrations",
    "PoisonEvent",
    "RealtimeCaller",
    "RealtimeHandler",
    "Role",
    "RunnerError",
    "ServiceUnavailable",
    "Settings",
    "SettingsError",
    "Subscription",
    "SubscriptionStatus",
    "SubscriptionUpdate",
    "Unauthenticated",
    "User",
    "UserNotFound",
    "UserService",
    "ValidationFailed",
    "Vendor",
    "VendorCreate",
    "VendorNotFound",
    "VendorPosition",
    "VendorService",
    "VendorSummary",
    "VendorUpdate",
    "Venta",
    "VentaASGI",
    "VentaError",
    "create_asgi_app",
    "error_responses",
    "errors",
    "first_answer",
    "hookimpl",
    "load_settings",
    "mount",
    "run",
    "serve",
]

#: Public names that load their module (uvicorn, Starlette) on first use.
_LAZY = {
    "ROLES": "venta_core.runner",
    "Role": "venta_core.runner",
    "RunnerError": "venta_core.runner",
    "run": "venta_core.runner",
    "serve": "venta_core.runner",
    "VentaASGI": "venta_core.asgi",
    "create_asgi_app": "venta_core.asgi",
    "mount": "venta_core.asgi",
    "error_responses": "venta_core.transports.http.schemas",
    "Emit": "venta_core.transports.realtime.extensions",
    "RealtimeCaller": "venta_core.transports.realtime.extensions",
    "RealtimeHandler": "venta_core.transports.realtime.extensions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
