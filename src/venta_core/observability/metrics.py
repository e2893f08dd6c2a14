"""Prometheus metrics kept in a registry per application, never the global default one, so
several applications in one process (tests, ``venta serve all``) do not clash."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from venta_core.observability.client_metrics import CLIENT_METRICS

__all__ = ["UNMATCHED_ROUTE", "HttpMetrics", "new_registry", "render"]

#: Route label of requests that matched no route, so unknown paths add one series, not many.
UNMATCHED_ROUTE = "<unmatched>"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and garbage-collector collectors, and the
    process's client metrics (database pool, Redis, NATS, ...: ``client_metrics``)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(CLIENT_METRICS)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``registry`` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HttpMetrics:
    """Request count, latency and in-flight requests of one HTTP application."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        labels = ("method", "route", "status")
        self.requests = Counter(
            "venta_http_requests", "HTTP requests answered.", labels, registry=registry
        )
        self.duration = Histogram(
            "venta_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "venta_http_requests_in_progress",
            "HTTP requests being answered.",
            ("method",),
            registry=registry,
        )

    @staticmethod
    def method_label(method: str) -> str:
        """The method, or ``OTHER`` for anything unusual (bounded label values)."""
        return method if method in _METHODS else "OTHER"

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (self.method_label(method), route, str(status))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)
