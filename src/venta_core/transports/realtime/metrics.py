"""Prometheus metrics of the real-time gateway (in the registry of the process's roles)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RealtimeMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_EVENTS = frozenset({"updateVendorLocation", "updateUserLocation"})


class RealtimeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.connections_total = Counter(
            "venta_ws_connections",
            "Socket.IO connections accepted.",
            ("namespace",),
            registry=registry,
        )
        self.refused = Counter(
            "venta_ws_connections_refused",
            "Socket.IO connections refused.",
            ("code",),
            registry=registry,
        )
        self.connected = Gauge(
            "venta_ws_connected",
            "Socket.IO connections open now.",
            ("namespace",),
            registry=registry,
        )
        self.messages_in = Counter(
            "venta_ws_messages_in",
            "Events received from clients.",
            ("namespace", "event"),
            registry=registry,
        )
        self.messages_out = Counter(
            "venta_ws_messages_out",
            "Events sent to clients (one per recipient).",
            ("event",),
            registry=registry,
        )
        self.deliveries = Counter(
            "venta_ws_deliveries",
            "Events written to clients, by path: `direct` (the pre-built frame written to the "
            "websocket) or `queued` (python-socketio's per-client queue: long-polling, an "
            "upgrade in progress, or a server where direct writes are not safe).",
            ("path",),
            registry=registry,
        )
        self.errors = Counter(
            "venta_ws_errors", "`error` events sent to clients.", ("code",), registry=registry
        )
        self.rate_limited = Counter(
            "venta_ws_rate_limited",
            "Messages refused by a connection's rate limit.",
            ("namespace",),
            registry=registry,
        )
        self.slow_consumers = Counter(
            "venta_ws_slow_consumers",
            "Connections dropped because they did not read fast enough.",
            registry=registry,
        )
        self.conflated = Counter(
            "venta_ws_conflated",
            "Queued frames replaced by a newer one of the same vendor for a client that did "
            "not keep up (conflation), instead of being sent.",
            registry=registry,
        )
        self.coalesced = Counter(
            "venta_ws_coalesced",
            "Vendor positions replaced by a newer one of the same vendor while waiting for "
            "this process's fan-out (it had fallen behind), instead of being sent.",
            registry=registry,
        )
        self.fanout_backlog = Gauge(
            "venta_ws_fanout_backlog",
            "Vendor states waiting for this process's fan-out.",
            registry=registry,
        )
        self.recovered = Counter(
            "venta_ws_recovered",
            "Connections that recovered a dropped session (connection state recovery).",
            ("namespace",),
            registry=registry,
        )
        self.fanout_latency = Histogram(
            "venta_ws_fanout_latency_seconds",
            "From a vendor position's timestamp to its delivery to this process's watchers.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.vendors_offline = Counter(
            "venta_ws_vendors_offline",
            "Vendors this process took offline (dropped connection past its grace period, or "
            "held by a process that stopped renewing it).",
            registry=registry,
        )
        self.resync_repairs = Counter(
            "venta_ws_resync_repairs",
            "Vendors added to or removed from watched cells by a re-sync with the geo index "
            "(each one a bus message this process missed).",
            registry=registry,
        )
        self.cells = Gauge(
            "venta_ws_cells_watched", "Cells this process is subscribed to.", registry=registry
        )

    @staticmethod
    def event_label(event: str) -> str:
        return event if event in _EVENTS else "other"
