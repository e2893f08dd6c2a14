"""Prometheus metrics of gRPC servers and clients.

Names follow the usual gRPC conventions with the ``venta_`` prefix:

* server (the process serving ``venta serve grpc``): ``venta_grpc_server_handled_total``
  by service, method and status code, ``venta_grpc_server_handling_seconds`` by service and
  method, ``venta_grpc_server_in_progress``;
* client (any process calling remote services: the gateway, or a location service reaching the
  vendor service): ``venta_grpc_client_handled_total`` by service, method and code,
  ``venta_grpc_client_handling_seconds`` and ``venta_grpc_client_retries_total``. One client
  sample is one logical call, retries and backoff included, which is what the caller waits for.

Label values are bounded: the full service name (``venta.v1.VendorService``), the method name
(``GetVendor``) and the status code name (``OK``, ``NOT_FOUND``, ``UNAVAILABLE``, ...).
This module knows nothing of grpc itself, so importing it never loads the gRPC runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["GrpcClientMetrics", "GrpcServerMetrics", "MetricGroup", "split_method"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def split_method(full_method: str) -> tuple[str, str]:
    """``"/venta.v1.VendorService/GetVendor"`` -> ``("venta.v1.VendorService", "GetVendor")``."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return (service or "unknown"), (method or "unknown")


class MetricGroup(Collector):
    """Metrics created without a registry, collected together: ``registry.register(group)``
    adds them to whichever registry a process exposes (its own ``/metrics``)."""

    def __init__(self, metrics: Iterable[MetricWrapperBase]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield from metric.collect()

    def describe(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield from metric.describe()


class GrpcServerMetrics:
    """Calls handled by the gRPC servers of one process, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "venta_grpc_server_handled",
            "gRPC calls answered, by status code.",
            ("service", "method", "code"),
            registry=registry,
        )
        self.duration = Histogram(
            "venta_grpc_server_handling_seconds",
            "Time to answer a gRPC call.",
            ("service", "method"),
            buckets=_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "venta_grpc_server_in_progress",
            "gRPC calls being answered.",
            ("service",),
            registry=registry,
        )

    def observe(self, full_method: str, code: str, seconds: float) -> None:
        service, method = split_method(full_method)
        self.handled.labels(service, method, code).inc()
        self.duration.labels(service, method).observe(seconds)


class GrpcClientMetrics(MetricGroup):
    """Logical calls a process makes to remote services. The metrics belong to no registry
    until the process registers this group in the one its ``/metrics`` renders."""

    def __init__(self) -> None:
        self.handled = Counter(
            "venta_grpc_client_handled",
            "gRPC calls made to remote services, by final status code.",
            ("service", "method", "code"),
            registry=None,
        )
        self.duration = Histogram(
            "venta_grpc_client_handling_seconds",
            "Time a caller waited for a gRPC call, retries included.",
            ("service", "method"),
            buckets=_BUCKETS,
            registry=None,
        )
        self.retries = Counter(
            "venta_grpc_client_retries",
            "Retries of idempotent gRPC calls after a transport-level UNAVAILABLE.",
            ("service", "method"),
            registry=None,
        )
        super().__init__([self.handled, self.duration, self.retries])

    def observe(self, service: str, method: str, code: str, seconds: float) -> None:
        self.handled.labels(service, method, code).inc()
        self.duration.labels(service, method).observe(seconds)

    def retried(self, service: str, method: str) -> None:
        self.retries.labels(service, method).inc()
