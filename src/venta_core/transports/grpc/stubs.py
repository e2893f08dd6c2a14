"""The generated protobuf and gRPC modules, imported from one place.

They are generated at build time (``hatch_build.py``) and never committed; in a source checkout
without an install, ``python -m venta_core.transports.grpc.generate`` creates them.

The ``*_pb2`` modules are typed by their generated ``.pyi`` files. The ``*_pb2_grpc`` modules
have no annotations, so they are loaded by name and typed ``Any``: the type checker then never
analyses generated code.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

_PACKAGE = "venta_core.transports.grpc.generated.venta.v1"
_HINT = (
    "the gRPC stubs are not generated: run `python -m venta_core.transports.grpc.generate` "
    "(or reinstall venta)"
)

try:
    from venta_core.transports.grpc.generated.venta.v1 import (
        common_pb2,
        location_pb2,
        user_pb2,
        vendor_pb2,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the checkout
    if not (exc.name or "").startswith("venta_core.transports.grpc.generated"):
        raise
    raise ModuleNotFoundError(_HINT, name=exc.name) from exc


def _grpc_module(name: str) -> ModuleType:
    return importlib.import_module(f"{_PACKAGE}.{name}")


user_pb2_grpc: Any = _grpc_module("user_pb2_grpc")
vendor_pb2_grpc: Any = _grpc_module("vendor_pb2_grpc")
location_pb2_grpc: Any = _grpc_module("location_pb2_grpc")

__all__ = [
    "common_pb2",
    "location_pb2",
    "location_pb2_grpc",
    "user_pb2",
    "user_pb2_grpc",
    "vendor_pb2",
    "vendor_pb2_grpc",
]
