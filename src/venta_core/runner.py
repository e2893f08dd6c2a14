"""Run a ``Venta`` application in the roles a process plays, until SIGTERM/SIGINT.

Roles: ``gateway`` (HTTP on ``http.port``), ``ws`` (Socket.IO on ``realtime.port``) and
``worker`` (the event handlers). With both ``gateway`` and ``ws``, Socket.IO is served on the
HTTP port itself at ``/socket.io/`` (``venta serve all``: one URL). A ``Role`` of your own runs
beside them: a coroutine given the started application, an ASGI app on a port of its own, or
both (docs/library.md).

Shutdown is graceful: the servers stop accepting, in-flight requests finish (bounded by
``http.shutdown_timeout_seconds``), websocket clients are closed with 1012 (they reconnect to
another process), then the application stops its components in reverse order (flushing
write-behind positions and relaying the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import re
import signal
import socket
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn

from venta_core.app import Venta
from venta_core.observability.banner import announce, http_endpoints, url
from venta_core.observability.metrics import new_registry
from venta_core.observability.tracing import (
    configure_tracing,
    instrument_http_app,
    process_service_name,
    shutdown_tracing,
)
from venta_core.roles import forget_deleted_identities, stop_worker
from venta_core.settings import Settings
from venta_core.transports.listener import HeadLimits, http_config

__all__ = ["ROLES", "Role", "RunnerError", "run", "serve", "settle_heap", "tune_gc"]

log = logging.getLogger(__name__)

ROLES = ("gateway", "ws", "worker")


class RunnerError(RuntimeError):
    """A process cannot start; ``str()`` is the one-line reason."""


Lifespan = Literal["auto", "on", "off"]

_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Role:
    """A role of your own, served by ``serve`` beside the built-in ones.

    - ``task``: called with the started application; its coroutine runs while the process
      serves. When it returns, the process stops, as when a server stops (so a role may be a
      job: an import, a back-office run); when it raises, the process stops and ``serve``
      raises that error once everything is stopped. At shutdown it is cancelled.
    - ``asgi``: an ASGI application served on ``host:port`` (``0``: a free port, reported to
      ``on_ready`` under the role's name), with its own lifespan run by the server.
    """

    name: str
    task: Callable[[Venta], Awaitable[None]] | None = None
    asgi: Any = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not _ROLE_NAME.match(self.name) or self.name in ROLES:
            raise RunnerError(
                f"a custom role needs a name of its own (a-z, 0-9, _ or -): {self.name!r}"
            )
        if self.task is None and self.asgi is None:
            raise RunnerError(f"role {self.name!r} has neither a task nor an ASGI app")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGTERM/SIGINT for all servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: only then does asyncio set TCP_NODELAY on accepted connections,
    # without which every keep-alive response waits for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunnerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _http_server(
    asgi_app: Any, settings: Settings, port: int, *, lifespan: Lifespan = "off"
) -> _Server:
    """Request heads are bounded by ``http.max_header_bytes`` / ``http.max_headers``
    (``transports.listener``)."""
    config = http_config(
        asgi_app,
        HeadLimits.of(settings.http),
        lifespan=lifespan,
        proxy_headers=settings.http.trust_forwarded_for,
        timeout_graceful_shutdown=int(settings.http.shutdown_timeout_seconds),
        # The real-time fan-out writes one pre-built frame to many websockets; per-message
        # deflate would make each client's frame different (and costs a zlib pass per client
        # for ~100-byte messages).
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.realtime.max_payload_bytes,
    )
    return _Server(config)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def serve(
    app: Venta,
    roles: Iterable[str | Role],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], Awaitable[None] | None] | None = None,
) -> None:
    """Start ``app`` and serve ``roles`` until ``stop`` is set (or a signal arrives), then stop
    gracefully.

    ``roles`` holds names of ``ROLES`` and ``Role`` objects of your own. ``on_ready`` is called
    once everything runs, with the port of each listening role (``{"gateway": 8000, ...}``).
    Raises ``RunnerError`` when a role is unknown or a port cannot be bound, and the error of a
    custom role's task that failed (after the graceful stop).
    """
    names, custom = _split_roles(roles)
    stop = stop or asyncio.Event()
    _install_signal_handlers(stop)
    settings = app.settings
    listeners: list[tuple[str, _Server, socket.socket, str]] = []
    after_start: list[Callable[[], Awaitable[None]]] = []
    before_stop: list[Callable[[], Awaitable[None]]] = []
    registry = new_registry()
    client_metrics = getattr(app.grpc_clients, "metrics", None)
    if client_metrics is not None:  # calls to remote services, on this process's /metrics
        registry.register(client_metrics)
    if "worker" in names:
        app.enable_worker(registry=registry)
        before_stop.append(lambda: stop_worker(app))
    realtime = None
    if "ws" in names:
        from venta_core.transports.realtime import create_realtime_gateway, operations_app

        realtime = create_realtime_gateway(app, registry=registry)
        after_start.append(realtime.start)
        before_stop.append(realtime.stop)
    try:
        if "gateway" in names:
            from venta_core.transports.http import create_http_app

            sock = bind_socket(settings.http.host, settings.http.port)
            http_app = create_http_app(app, registry=registry)
            instrument_http_app(http_app)
            asgi_app: Any = http_app if realtime is None else realtime.asgi(http_app)
            server = _http_server(asgi_app, settings, sock.getsockname()[1])
            listeners.append(("gateway", server, sock, settings.http.host))
            cache = http_app.state.identity_cache
            after_start.append(lambda: forget_deleted_identities(app, cache))
        if realtime is not None and "gateway" not in names:
            sock = bind_socket(settings.realtime.host, settings.realtime.port)
            asgi_app = realtime.asgi(operations_app(app, registry))
            listeners.append(
                ("ws", _http_server(asgi_app, settings, 0), sock, settings.realtime.host)
            )
        for role in custom:
            if role.asgi is not None:
                sock = bind_socket(role.host, role.port)
                server = _http_server(role.asgi, settings, 0, lifespan="auto")
                listeners.append((role.name, server, sock, role.host))
    except BaseException:
        for _, _, sock, _ in listeners:
            sock.close()
        raise
    sockets = [(srv, sock) for _, srv, sock, _ in listeners]
    started = False
    try:
        await app.start()
        started = True
        for step in after_start:
            await step()
    except BaseException:
        for _, sock in sockets:
            sock.close()
        for step in before_stop:
            with contextlib.suppress(Exception):
                await step()
        if started:
            await app.stop()
        raise
    failure: BaseException | None = None
    try:
        tasks = [asyncio.create_task(srv.serve(sockets=[sock])) for srv, sock in sockets]
        jobs = [
            asyncio.create_task(_run_task(role, app), name=f"role {role.name}")
            for role in custom
            if role.task is not None
        ]
        ports = {role: sock.getsockname()[1] for role, _, sock, _ in listeners}
        if await until_started([srv for srv, _ in sockets], tasks):
            _announce(names, custom, listeners)
        if on_ready is not None:
            result = on_ready(ports)
            if asyncio.iscoroutine(result):
                await result
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([*tasks, *jobs, waiter], return_when=asyncio.FIRST_COMPLETED)
        log.info("venta shutting down")
        if realtime is not None:
            realtime.draining()
        for job in jobs:
            job.cancel()
        for srv, _ in sockets:
            srv.should_exit = True
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failure = _first_failure(await asyncio.gather(*jobs, return_exceptions=True))
        waiter.cancel()
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, asyncio.CancelledError
            ):
                log.error("server stopped with an error: %r", outcome)
    finally:
        for _, sock in sockets:
            sock.close()
        for step in before_stop:
            try:
                await step()
            except Exception:
                log.exception("stopping a role failed")
        await app.stop()
    if failure is not None:
        raise failure


def _split_roles(roles: Iterable[str | Role]) -> tuple[set[str], list[Role]]:
    """The built-in role names and the custom roles; ``RunnerError`` for an unknown name."""
    names = {r for r in roles if isinstance(r, str)}
    custom = [r for r in roles if isinstance(r, Role)]
    unknown = names - set(ROLES)
    if unknown:
        raise RunnerError(f"unknown role(s): {', '.join(sorted(unknown))}")
    seen = [r.name for r in custom]
    if len(set(seen)) != len(seen):
        raise RunnerError(f"custom roles with the same name: {', '.join(sorted(seen))}")
    return names, custom


async def _run_task(role: Role, app: Venta) -> None:
    assert role.task is not None
    try:
        await role.task(app)
    except Exception:
        log.exception("role %s failed", role.name)
        raise
    log.info("role %s is done", role.name)


def _first_failure(outcomes: list[Any]) -> BaseException | None:
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            return outcome
    return None


async def until_started(servers: list[uvicorn.Server], tasks: list[asyncio.Task[None]]) -> bool:
    """Wait until every server accepts connections (True), or one of them stopped (False)."""
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            return False
        await asyncio.sleep(0.01)
    return True


def _announce(
    names: set[str],
    custom: list[Role],
    listeners: list[tuple[str, _Server, socket.socket, str]],
) -> None:
    """The start-up banner: each listener's URLs, on the port it really got."""
    endpoints: dict[str, str] = {}
    for role, _, sock, host in listeners:
        port = int(sock.getsockname()[1])
        if role == "gateway":
            endpoints |= http_endpoints(host, port, names & {"gateway", "ws"})
        elif role == "ws":
            endpoints |= http_endpoints(host, port, {"ws"})
        else:  # a custom role's own ASGI app
            endpoints[role] = url(host, port)
    served = [r for r in ROLES if r in names] + [role.name for role in custom]
    announce(", ".join(served), endpoints)


def _loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (it comes with ``uvicorn[standard]``): its transports make
    the real-time fan-out's many small writes markedly cheaper. Processes that call remote
    services over gRPC keep the standard loop, which grpc.aio is built for."""
    if settings.remote_services:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def tune_gc(settings: Settings) -> None:
    """Let the garbage collector's youngest generation grow to ``settings.gc_threshold``
    (``VENTA_GC_THRESHOLD``) net allocations before a pass, instead of CPython's 700; 0 leaves
    Python's setting. The older generations keep Python's ratios."""
    if settings.gc_threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, older, oldest)


def settle_heap(settings: Settings) -> None:
    """Once a ``venta serve`` process is up: the objects of imports and start-up are moved out
    of the collector's reach (``gc.freeze``), and the youngest generation is collected less
    often (``tune_gc``).

    A request's or an event's objects are freed by reference counting when it is done, but a
    busy process holds more than 700 container objects in flight at any moment: with the
    default threshold the collector ran hundreds to thousands of times a second, promoted those
    in-flight objects to older generations, and so triggered full collections that walked the
    whole start-up heap (about 245,000 objects in the gateway, 0.1-0.2 s each). Under 64
    concurrent connections that was 150-200 us of CPU per ``GET /v1/vendors/{id}``; in a
    worker draining events, about a fifth of its CPU (docs/performance.md). Cyclic garbage is
    still collected, in larger batches. What start-up built (modules, routes, settings, pools)
    lives as long as the process; a frozen object that later becomes cyclic garbage is not
    reclaimed. Only the processes ``run`` starts: an application that embeds venta keeps its
    own collector settings."""
    gc.collect()
    gc.freeze()
    tune_gc(settings)


def _settle_when_ready(settings: Settings, _ports: dict[str, int]) -> None:
    settle_heap(settings)


def run(settings: Settings, roles: Iterable[str | Role]) -> None:
    """Build a ``Venta`` from ``settings`` and serve ``roles`` until SIGTERM/SIGINT, with
    logging configured from ``settings.log`` and tracing from the ``OTEL_*`` variables
    (``observability.tracing``): the blocking entry point of ``venta serve``. The process's
    heap is settled for the collector once everything runs (``settle_heap``)."""
    from venta_core.observability.logging import configure_logging

    configure_logging(settings.log)
    roles = list(roles)
    names = [r if isinstance(r, str) else r.name for r in roles]
    configure_tracing(process_service_name(names))
    try:
        with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
            ready = functools.partial(_settle_when_ready, settings)
            runner.run(serve(Venta(settings), roles, on_ready=ready))
    finally:
        shutdown_tracing()
