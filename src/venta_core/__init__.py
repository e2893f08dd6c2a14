"""venta_core: the library behind the ``venta`` command.

Domain services are plain async classes behind Protocols, wired by the ``Venta`` application
object from ``Settings`` and exposed by transports (HTTP, gRPC, events, real-time).
"""

from venta_core.app import Venta
from venta_core.errors import VentaError
from venta_core.hookspecs import hookimpl
from venta_core.settings import Settings, load_settings

__all__ = ["Settings", "Venta", "VentaError", "hookimpl", "load_settings"]
