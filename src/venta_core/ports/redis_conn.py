"""One Redis client per process, shared by the Redis-backed ports (geo index, key-value store,
presence).

The URL picks the client: ``redis://`` / ``rediss://`` (TLS) a single primary, and
``redis+cluster://host:port[,host2:port2...]`` / ``rediss+cluster://...`` a Redis Cluster, with
the listed nodes as startup nodes (one reachable node is enough; the client discovers the rest
and follows slot moves). Credentials, database (``/0`` only on a cluster) and query options are
those of a plain Redis URL.

The connection owns the client's lifecycle; the ports only borrow ``client`` and ask
``cluster`` when they must lay out keys differently. Responses are decoded to ``str``.
Connecting is lazy: ``start()`` builds the client and ``check()`` (PING; on a cluster, after
discovering its nodes and slots) proves it works.

Its clients are metered (``venta_core.observability.client_metrics``): every round trip, a
pipeline or transaction counting as one, is timed by command name, and failures are counted by
command and error class, for every port at once.

The connection also owns the ``Dependency`` of Redis (``venta_core.outages``): the ports run
every public method under ``@guarded``, so a Redis that cannot be reached (refused, timed out,
loading its data, failing over) raises ``ServiceUnavailable`` in every one of them, and the
outage is logged once for all of them.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.typing import EncodableT

from venta_core.observability.client_metrics import CLIENT_METRICS, command_label
from venta_core.outages import Dependency

__all__ = [
    "ClusterUrl",
    "RedisConnection",
    "guarded",
    "parse_cluster_url",
    "redact_url",
    "redis_unavailable",
]

logger = logging.getLogger(__name__)

#: Seconds allowed to open a socket; without it an unroutable host blocks for minutes.
CONNECT_TIMEOUT_S = 5.0
#: Seconds a command may wait for its answer: a Redis that hangs (rather than refusing
#: connections) answers 503 after this, instead of holding requests forever. Every command the
#: ports send takes milliseconds.
SOCKET_TIMEOUT_S = 10.0
DEFAULT_PORT = 6379
#: Cluster URL scheme -> the plain scheme redis-py parses for credentials and options.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)
_IPV6_NODE = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>\d+))?$")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and error messages).

    Works on the raw network location, so it also handles cluster URLs naming several
    ``host:port`` nodes; a ``password`` query option is hidden too."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


#: Errors that mean Redis cannot be reached or cannot serve now: refused or dropped connections,
#: timeouts, a server loading its data after a restart, a replica promoted read-only, a cluster
#: re-sharding or with a slot that no node serves.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ClusterError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,
    OSError,
    TimeoutError,
)


def redis_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by redis-py) means Redis cannot be reached."""
    return isinstance(exc, _UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A parsed ``redis+cluster://`` URL."""

    #: ``redis://`` (or ``rediss://``) URL of the first node, with the credentials, database and
    #: options of the cluster URL: what redis-py parses.
    first: str
    nodes: tuple[tuple[str, int], ...]  # every startup node, the first one included
    tls: bool


def parse_cluster_url(url: str) -> ClusterUrl | None:
    """The startup nodes and options of a cluster URL; None for any other URL.

    Raises ``ValueError`` (with the password hidden) for a malformed node list or a database
    other than 0 (a cluster has only one)."""
    scheme, sep, rest = url.partition("://")
    plain = _CLUSTER_SCHEMES.get(scheme.lower())
    if plain is None or not sep:
        return None
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, hosts = netloc.rpartition("@")
    try:
        nodes = tuple(_node(h) for h in hosts.split(","))
    except ValueError as exc:
        raise ValueError(f"bad Redis Cluster URL {redact_url(url)!r}: {exc}") from None
    path = urlsplit(f"{plain}://x{tail}").path
    if path not in ("", "/", "/0"):
        raise ValueError(
            f"bad Redis Cluster URL {redact_url(url)!r}: a cluster has database 0 only"
        )
    first = f"{plain}://{userinfo}{at}{hosts.split(',')[0].strip()}{tail}"
    return ClusterUrl(first=first, nodes=nodes, tls=plain == "rediss")


def _node(text: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[ipv6]:port`` -> (host, port)."""
    text = text.strip()
    match = _IPV6_NODE.match(text)
    if match:
        host, port = match["host"], match["port"]
    else:
        host, _, port = text.partition(":")
    if not host or (port is not None and port != "" and not port.isdigit()):
        raise ValueError(f"not a host[:port]: {text!r}")
    number = int(port) if port else DEFAULT_PORT
    if not 0 < number < 65536:
        raise ValueError(f"port out of range: {text!r}")
    return host, number


class _Metered:
    """Times every command and pipeline of a Redis client (see the module docstring). Mixed in
    before the redis-py client class."""

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        label = command_label(args[0]) if args else "OTHER"
        start = time.perf_counter()
        try:
            return await super().execute_command(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            CLIENT_METRICS.redis_failed(label, exc)
            raise
        finally:
            CLIENT_METRICS.redis_observe(label, time.perf_counter() - start)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)  # type: ignore[misc]
        label = "MULTI" if getattr(pipe, "is_transaction", False) else "PIPELINE"
        execute = pipe.execute

        async def metered_execute(*a: Any, **kw: Any) -> Any:
            with CLIENT_METRICS.redis_round_trip(label):
                return await execute(*a, **kw)

        pipe.execute = metered_execute
        return pipe


class MeteredRedis(_Metered, Redis):  # type: ignore[misc]  # redis-py's own stubs clash
    """``Redis`` with its round trips counted."""


class _Cluster(_Metered, RedisCluster):  # type: ignore[misc]
    """``RedisCluster`` that finishes discovering the cluster before it runs any command.

    redis-py discovers the cluster lazily, on the first command. Commands issued while that
    discovery is under way (a burst on a fresh client, as a starting process sees) are routed
    without their slot and break each other's connections (redis-py 8.1: ``'NoneType' object
    has no attribute 'writelines'``). Waiting for the discovery first avoids that; afterwards
    it costs one flag test per command."""

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()  # serialised by the client's own lock
        return await super().execute_command(*args, **kwargs)


class RedisConnection:
    name = "redis"

    def __init__(self, url: str) -> None:
        self._url = url
        self._cluster_url = parse_cluster_url(url)
        self._client: Redis | RedisCluster | None = None
        self.dependency = Dependency("redis", redis_unavailable, shown=redact_url(url))

    def __repr__(self) -> str:
        return f"RedisConnection({redact_url(self._url)!r})"

    @property
    def cluster(self) -> bool:
        """True for a Redis Cluster: multi-key commands must then stay within one hash slot."""
        return self._cluster_url is not None

    @property
    def client(self) -> Redis | RedisCluster:
        if self._client is None:
            raise RuntimeError("RedisConnection is not started")
        return self._client

    async def start(self) -> None:
        if self._client is not None:
            return
        parsed = self._cluster_url
        if parsed is None:
            self._client = MeteredRedis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
            )
            return
        # from_url takes the first node (and credentials, options) from the URL; the other
        # nodes are extra startup nodes, tried when the first one does not answer.
        self._client = _Cluster.from_url(
            parsed.first,
            startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes[1:]],
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
        )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.aclose()
        except Exception:  # stop() must not raise; the process is going away anyway
            logger.warning("closing Redis at %s failed", redact_url(self._url), exc_info=True)

    async def check(self) -> None:
        with self.dependency.guard():  # the start-up proof and /ready count as contact
            await self.client.ping()


class _UsesRedis(Protocol):
    @property
    def _conn(self) -> RedisConnection: ...


S = TypeVar("S", bound=_UsesRedis)
P = ParamSpec("P")
R = TypeVar("R")


def guarded(
    method: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Run a port method under its connection's ``Dependency`` guard: Redis being unreachable
    raises ``ServiceUnavailable`` (see the module docstring)."""

    async def call(port: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with port._conn.dependency.guard():
            return await method(port, *args, **kwargs)

    functools.update_wrapper(call, method)
    return call
