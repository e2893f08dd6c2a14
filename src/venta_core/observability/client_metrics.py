"""Metrics of what a process calls: its database pool, Redis, NATS, and the outcomes operators
watch beside them (rate-limit rejections, JWKS fetches, webhook deliveries).

They are process-wide, as the process collectors are: every registry ``new_registry()`` makes
holds ``CLIENT_METRICS``, so the ``/metrics`` of every role shows them, whichever role owns the
connection. Several applications in one process (tests, ``venta serve all``) add to the same
series, and the pool gauges sum the pools of every database open in the process.

The call sites stay small: ``Database`` reports its pool and checkout waits, ``RedisConnection``
builds metered clients (``MeteredRedis``: one sample per round trip, a pipeline is one), and the
NATS bus connects a ``metered_nats_client()`` (every publish and request of the connection,
JetStream's included). Labels are bounded: the Redis command name, the NATS operation and
subject kind, the exception class name of an error, and fixed names for the rest.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from venta_core.observability.grpc_metrics import MetricGroup

__all__ = [
    "CLIENT_METRICS",
    "ClientMetrics",
    "PoolStatus",
    "command_label",
    "error_label",
]

#: Round trips to Redis and NATS take a millisecond; a pool checkout is instant unless it waits.
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_HTTP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_COMMAND = re.compile(r"[A-Z][A-Z0-9_.-]{0,31}( [A-Z][A-Z0-9_.-]{0,31})?")
_ERROR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


#: Label of each command name seen (names come from the code, so they are few).
_COMMAND_LABELS: dict[object, str] = {}
_MAX_CACHED = 512


def command_label(command: object) -> str:
    """A Redis command name as a label value (``GEOADD``, ``SCRIPT LOAD``); ``OTHER`` for
    anything that does not look like one, so the label stays bounded."""
    label = _COMMAND_LABELS.get(command)
    if label is None:
        text = command.decode("ascii", "replace") if isinstance(command, bytes) else str(command)
        text = text.upper()
        label = text if _COMMAND.fullmatch(text) else "OTHER"
        if len(_COMMAND_LABELS) < _MAX_CACHED:
            _COMMAND_LABELS[command] = label
    return label


def error_label(exc: BaseException) -> str:
    """The class name of ``exc``: bounded by the exception classes the client library has."""
    name = type(exc).__name__
    return name if _ERROR.fullmatch(name) else "Error"


class PoolStatus(Protocol):
    """What ``Database`` tells of its pool: ``None`` when it has no engine (not started)."""

    def pool_status(self) -> tuple[int, int, int] | None:
        """(connections checked out, idle connections, most connections the pool opens)."""
        ...


class _PoolCollector(Collector):
    """The gauges of every open database's pool, read at scrape time."""

    def __init__(self) -> None:
        self._databases: weakref.WeakSet[PoolStatus] = weakref.WeakSet()

    def watch(self, database: PoolStatus) -> None:
        self._databases.add(database)

    def collect(self) -> Iterator[Metric]:
        in_use = idle = limit = 0
        for database in list(self._databases):
            status = database.pool_status()
            if status is not None:
                in_use, idle, limit = in_use + status[0], idle + status[1], limit + status[2]
        yield GaugeMetricFamily(
            "venta_db_pool_connections_in_use",
            "Database connections checked out of the pool (in use by a request or task).",
            value=in_use,
        )
        yield GaugeMetricFamily(
            "venta_db_pool_connections_idle",
            "Database connections open in the pool and free.",
            value=idle,
        )
        yield GaugeMetricFamily(
            "venta_db_pool_connections_max",
            "Most database connections the pool opens (pool size plus overflow).",
            value=limit,
        )

    def describe(self) -> Iterator[Metric]:
        return self.collect()


class ClientMetrics(MetricGroup):
    """Every client metric of the process, collected together (see the module docstring)."""

    def __init__(self) -> None:
        self.pools = _PoolCollector()
        self.db_waiting = Gauge(
            "venta_db_pool_waiting",
            "Tasks waiting for a database connection from the pool.",
            registry=None,
        )
        self.db_wait = Histogram(
            "venta_db_pool_checkout_wait_seconds",
            "Time to get a database connection from the pool (opening one included).",
            buckets=_WAIT_BUCKETS,
            registry=None,
        )
        self.db_timeouts = Counter(
            "venta_db_pool_checkout_timeouts",
            "Requests for a database connection that gave up waiting for a free one.",
            registry=None,
        )
        # Labelled children looked up once: the hot paths skip the registry lock and lookup.
        self._redis_children: dict[str, Histogram] = {}
        self._nats_children: dict[str, Counter] = {}
        self.redis_duration = Histogram(
            "venta_redis_command_duration_seconds",
            "Redis round trips by command (a pipeline or transaction is one), answer included.",
            ("command",),
            buckets=_FAST_BUCKETS,
            registry=None,
        )
        self.redis_errors = Counter(
            "venta_redis_errors",
            "Redis round trips that failed, by command and error class.",
            ("command", "error"),
            registry=None,
        )
        self.nats_published = Counter(
            "venta_nats_published_messages",
            "Messages published on the NATS connection, by kind: message (events, positions), "
            "api (JetStream API and fetch requests), ack (JetStream acknowledgements).",
            ("kind",),
            registry=None,
        )
        self.nats_requests = Histogram(
            "venta_nats_request_duration_seconds",
            "NATS request-reply round trips (JetStream publishes and API calls), by kind.",
            ("kind",),
            buckets=_FAST_BUCKETS,
            registry=None,
        )
        self.nats_errors = Counter(
            "venta_nats_errors",
            "NATS publishes and requests that failed, by operation and error class.",
            ("operation", "error"),
            registry=None,
        )
        self.rate_limited = Counter(
            "venta_rate_limit_rejections",
            "Requests and connections refused by a rate limit, by limit: http_ip, "
            "http_identity, ws_connect_ip, ws_connections_per_user.",
            ("limit",),
            registry=None,
        )
        self.jwks_fetches = Counter(
            "venta_jwks_fetches",
            "Fetches of an identity provider's signing keys (JWKS), by provider and outcome: "
            "ok, error (unreachable, timed out, not a 200) or invalid (not a key set).",
            ("provider", "outcome"),
            registry=None,
        )
        self.jwks_duration = Histogram(
            "venta_jwks_fetch_duration_seconds",
            "Time to fetch an identity provider's signing keys, by provider.",
            ("provider",),
            buckets=_HTTP_BUCKETS,
            registry=None,
        )
        self.webhooks = Counter(
            "venta_webhook_deliveries",
            "Webhook deliveries received, by provider and outcome: processed, duplicate, "
            "in_progress, rejected (bad signature, credentials or body), failed (not handled).",
            ("provider", "outcome"),
            registry=None,
        )
        super().__init__(
            [
                self.db_waiting,
                self.db_wait,
                self.db_timeouts,
                self.redis_duration,
                self.redis_errors,
                self.nats_published,
                self.nats_requests,
                self.nats_errors,
                self.rate_limited,
                self.jwks_fetches,
                self.jwks_duration,
                self.webhooks,
            ]
        )

    def collect(self) -> Iterator[Metric]:
        yield from self.pools.collect()
        yield from super().collect()

    def describe(self) -> Iterator[Metric]:
        yield from self.pools.describe()
        yield from super().describe()

    @contextmanager
    def redis_round_trip(self, command: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.redis_failed(command, exc)
            raise
        finally:
            self.redis_observe(command, time.perf_counter() - start)

    def redis_observe(self, command: str, seconds: float) -> None:
        """One Redis round trip of ``command`` that took ``seconds``."""
        child = self._redis_children.get(command)
        if child is None:
            child = self._redis_children[command] = self.redis_duration.labels(command)
        child.observe(seconds)

    def redis_failed(self, command: str, exc: BaseException) -> None:
        self.redis_errors.labels(command, error_label(exc)).inc()

    def nats_publish(self, kind: str) -> None:
        """One message published on NATS, of ``kind`` (``subject_kind``)."""
        child = self._nats_children.get(kind)
        if child is None:
            child = self._nats_children[kind] = self.nats_published.labels(kind)
        child.inc()

    @contextmanager
    def pool_checkout(self) -> Iterator[None]:
        """Around getting a connection from a pool: the waiting gauge and the wait time."""
        start = time.perf_counter()
        self.db_waiting.inc()
        try:
            yield
        finally:
            self.db_waiting.dec()
            self.db_wait.observe(time.perf_counter() - start)

    def rejected(self, limit: str) -> None:
        """One request or connection refused by the rate limit named ``limit``."""
        self.rate_limited.labels(limit).inc()

    def jwks_fetched(self, provider: str, outcome: str, seconds: float) -> None:
        self.jwks_fetches.labels(provider, outcome).inc()
        self.jwks_duration.labels(provider).observe(seconds)

    def webhook(self, provider: str, outcome: str) -> None:
        self.webhooks.labels(provider, outcome).inc()


#: The process's client metrics, in every registry of ``new_registry()``.
CLIENT_METRICS = ClientMetrics()
