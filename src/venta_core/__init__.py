"""venta_core: the library behind the ``venta`` command.

Domain services are plain async classes behind Protocols, wired by the ``Venta`` application
object from ``Settings`` and exposed by transports (HTTP, gRPC, events, real-time).
"""

import os

# gRPC's C core writes its own log lines straight to stderr, outside Python logging: INFO
# chatter such as "Got goaway ... Cancelling all calls" at every server stop and TLS handshake
# failures, and absl's "All log messages before absl::InitializeLog()..." before the first.
# GRPC_VERBOSITY is its documented switch, read once when grpc is first imported (every venta
# module importing grpc imports this package first): errors only, unless the user chose a level.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from venta_core.app import Venta
from venta_core.errors import VentaError
from venta_core.hookspecs import hookimpl
from venta_core.settings import Settings, load_settings

__all__ = ["Settings", "Venta", "VentaError", "hookimpl", "load_settings"]
