"""Logs, metrics and health reports shared by every process role."""

from venta_core.observability.health import liveness, readiness
from venta_core.observability.logging import configure_logging, redact
from venta_core.observability.metrics import HttpMetrics, new_registry, render

__all__ = [
    "HttpMetrics",
    "configure_logging",
    "liveness",
    "new_registry",
    "readiness",
    "redact",
    "render",
]
