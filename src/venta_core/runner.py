"""Run a ``Venta`` application in the roles a process plays, until SIGTERM/SIGINT.

Roles: ``gateway`` (HTTP on ``http.port``) and ``ws`` (Socket.IO on ``realtime.port``). With both,
Socket.IO is served on the HTTP port itself at ``/socket.io/`` (``venta serve all``: one URL).

Shutdown is graceful: the servers stop accepting, in-flight requests finish (bounded by
``http.shutdown_timeout_seconds``), websocket clients are closed with 1012 (they reconnect to
another process), then the application stops its components in reverse order (flushing
write-behind positions and relaying the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

import uvicorn

from venta_core.app import Venta
from venta_core.events import EventEnvelope, event_subject
from venta_core.observability.banner import announce, http_endpoints
from venta_core.observability.metrics import new_registry
from venta_core.ports.bus import BusMessage
from venta_core.settings import Settings
from venta_core.transports.listener import HeadLimits, http_config

__all__ = ["ROLES", "RunnerError", "run", "serve"]

log = logging.getLogger(__name__)

ROLES = ("gateway", "ws", "worker")


class RunnerError(RuntimeError):
    """A process cannot start; ``str()`` is the one-line reason."""


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


def _http_server(asgi_app: Any, settings: Settings, port: int) -> _Server:
    """Request heads are bounded by ``http.max_header_bytes`` / ``http.max_headers``
    (``transports.listener``)."""
    config = http_config(
        asgi_app,
        HeadLimits.of(settings.http),
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


async def _forget_deleted_identities(app: Venta, cache: Any) -> None:
    """A deleted user's cached identity is dropped as soon as the event arrives."""

    async def on_deleted(message: BusMessage) -> None:
        envelope = EventEnvelope.model_validate_json(message.data)
        cache.discard(str(envelope.data.get("externalId", "")), str(envelope.data.get("id", "")))

    subject = event_subject(app.settings.key_prefix, "user.deleted")
    await app.bus.subscribe(subject, on_deleted)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def serve(
    app: Venta,
    roles: Iterable[str],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], Awaitable[None] | None] | None = None,
) -> None:
    """Start ``app`` and serve ``roles`` until ``stop`` is set (or a signal arrives)."""
    roles = set(roles)
    unknown = roles - set(ROLES)
    if unknown:
        raise RunnerError(f"unknown role(s): {', '.join(sorted(unknown))}")
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
    if "worker" in roles:
        worker = app.enable_worker(registry=registry)

        async def stop_worker() -> None:
            # the last position flush first (it may add vendor.moved rows to the outbox), then
            # the relay's last pass, so the handlers get it
            await app.vendor_positions.stop()
            await app.user_positions.stop()
            await app.relay.stop()
            await worker.stop()  # drains for worker.drain_timeout_seconds

        before_stop.append(stop_worker)
    realtime = None
    if "ws" in roles:
        from venta_core.transports.realtime import create_realtime_gateway, operations_app

        realtime = create_realtime_gateway(app, registry=registry)
        after_start.append(realtime.start)
        before_stop.append(realtime.stop)
    try:
        if "gateway" in roles:
            from venta_core.transports.http import create_http_app

            sock = bind_socket(settings.http.host, settings.http.port)
            http_app = create_http_app(app, registry=registry)
            asgi_app: Any = http_app if realtime is None else realtime.asgi(http_app)
            server = _http_server(asgi_app, settings, sock.getsockname()[1])
            listeners.append(("gateway", server, sock, settings.http.host))
            cache = http_app.state.identity_cache
            after_start.append(lambda: _forget_deleted_identities(app, cache))
        if realtime is not None and "gateway" not in roles:
            sock = bind_socket(settings.realtime.host, settings.realtime.port)
            asgi_app = realtime.asgi(operations_app(app, registry))
            listeners.append(
                ("ws", _http_server(asgi_app, settings, 0), sock, settings.realtime.host)
            )
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
    try:
        tasks = [asyncio.create_task(srv.serve(sockets=[sock])) for srv, sock in sockets]
        ports = {role: sock.getsockname()[1] for role, _, sock, _ in listeners}
        if await until_started([srv for srv, _ in sockets], tasks):
            _announce(roles, listeners)
        if on_ready is not None:
            result = on_ready(ports)
            if asyncio.iscoroutine(result):
                await result
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        log.info("venta shutting down")
        if realtime is not None:
            realtime.draining()
        for srv, _ in sockets:
            srv.should_exit = True
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
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


async def until_started(servers: list[uvicorn.Server], tasks: list[asyncio.Task[None]]) -> bool:
    """Wait until every server accepts connections (True), or one of them stopped (False)."""
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            return False
        await asyncio.sleep(0.01)
    return True


def _announce(roles: set[str], listeners: list[tuple[str, _Server, socket.socket, str]]) -> None:
    """The start-up banner: each listener's URLs, on the port it really got."""
    endpoints: dict[str, str] = {}
    for role, _, sock, host in listeners:
        served = roles & {"gateway", "ws"} if role == "gateway" else {"ws"}
        endpoints |= http_endpoints(host, int(sock.getsockname()[1]), served)
    announce(", ".join(r for r in ROLES if r in roles), endpoints)


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


def run(settings: Settings, roles: Iterable[str]) -> None:
    """Blocking entry point used by the CLI."""
    from venta_core.observability.logging import configure_logging

    configure_logging(settings.log)
    with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
        runner.run(serve(Venta(settings), roles))
