"""Prometheus metrics of the worker role: events handled, failed, redelivered, dead-lettered,
handling time, the lag of each consumer and of the outbox, and webhook delivery ids purged."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["WorkerMetrics"]

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _RelayCollector(Collector):
    """Events the outbox relay of this process published (a counter kept by the relay)."""

    def __init__(self, published: Callable[[], int]) -> None:
        self._published = published

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "venta_outbox_relayed", "Outbox events this process published to the stream."
        )
        family.add_metric([], float(self._published()))
        yield family


class WorkerMetrics:
    def __init__(
        self, registry: CollectorRegistry, *, relay_published: Callable[[], int] | None = None
    ) -> None:
        self.registry = registry
        self.handled = Counter(
            "venta_worker_events_handled",
            "Events a handler handled successfully.",
            ("handler", "type"),
            registry=registry,
        )
        self.failed = Counter(
            "venta_worker_events_failed",
            "Handler attempts that raised (each is retried or dead-lettered).",
            ("handler", "type"),
            registry=registry,
        )
        self.redelivered = Counter(
            "venta_worker_events_redelivered",
            "Deliveries after the first one (retries, and events of a stopped worker).",
            ("handler",),
            registry=registry,
        )
        self.dead_lettered = Counter(
            "venta_worker_events_dead_lettered",
            "Events moved to the dead-letter subject, by reason.",
            ("handler", "reason"),
            registry=registry,
        )
        self.duration = Histogram(
            "venta_worker_handle_duration_seconds",
            "Time a handler took for one event.",
            ("handler",),
            buckets=_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "venta_worker_events_in_progress",
            "Events being handled now.",
            ("handler",),
            registry=registry,
        )
        self.consumer_pending = Gauge(
            "venta_worker_consumer_pending",
            "Events stored for a handler and not delivered yet.",
            ("handler",),
            registry=registry,
        )
        self.consumer_ack_pending = Gauge(
            "venta_worker_consumer_ack_pending",
            "Events delivered to a handler and not settled yet (in progress or to retry).",
            ("handler",),
            registry=registry,
        )
        self.webhook_claims_purged = Counter(
            "venta_webhook_claims_purged",
            "Webhook delivery ids deleted by housekeeping after their retention.",
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "venta_outbox_pending", "Outbox rows not relayed to the stream yet.", registry=registry
        )
        self.outbox_oldest_pending_age = Gauge(
            "venta_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not relayed to the stream yet (0: none pending).",
            registry=registry,
        )
        if relay_published is not None:
            registry.register(_RelayCollector(relay_published))
