"""Run a ``Venta`` application in the roles a process plays, until SIGTERM/SIGINT.

Shutdown is graceful: the servers stop accepting, in-flight requests finish (bounded by
``http.shutdown_timeout_seconds``), then the application stops its components in reverse order
(flushing write-behind positions and relaying the outbox).
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
from venta_core.ports.bus import BusMessage
from venta_core.settings import Settings

__all__ = ["ROLES", "RunnerError", "run", "serve"]

log = logging.getLogger(__name__)

ROLES = ("gateway",)


class RunnerError(RuntimeError):
    """A process cannot start; ``str()`` is the one-line reason."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGTERM/SIGINT for all servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunnerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _http_server(asgi_app: Any, settings: Settings, port: int) -> _Server:
    config = uvicorn.Config(
        asgi_app,
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=settings.http.trust_forwarded_for,
        timeout_graceful_shutdown=int(settings.http.shutdown_timeout_seconds),
        server_header=False,
    )
    return _Server(config)


async def _forget_deleted_identities(app: Venta, cache: Any) -> None:
    """A deleted user's cached identity is dropped as soon as the event arrives."""

    async def on_deleted(message: BusMessage) -> None:
        envelope = EventEnvelope.model_validate_json(message.data)
        cache.discard(str(envelope.data.get("externalId", "")))

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
    listeners: list[tuple[str, _Server, socket.socket]] = []
    after_start: list[Callable[[], Awaitable[None]]] = []
    if "gateway" in roles:
        from venta_core.transports.http import create_http_app

        sock = bind_socket(settings.http.host, settings.http.port)
        http_app = create_http_app(app)
        server = _http_server(http_app, settings, sock.getsockname()[1])
        listeners.append(("gateway", server, sock))
        after_start.append(lambda: _forget_deleted_identities(app, http_app.state.identity_cache))
    sockets = [(srv, sock) for _, srv, sock in listeners]
    try:
        await app.start()
        for step in after_start:
            await step()
    except BaseException:
        for _, sock in sockets:
            sock.close()
        raise
    try:
        tasks = [asyncio.create_task(srv.serve(sockets=[sock])) for srv, sock in sockets]
        ports = {role: sock.getsockname()[1] for role, _, sock in listeners}
        log.info("venta serving %s", ", ".join(f"{r} on port {p}" for r, p in ports.items()))
        if on_ready is not None:
            result = on_ready(ports)
            if asyncio.iscoroutine(result):
                await result
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
        log.info("venta shutting down")
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
        await app.stop()


def run(settings: Settings, roles: Iterable[str]) -> None:
    """Blocking entry point used by the CLI."""
    from venta_core.observability.logging import configure_logging

    configure_logging(settings.log)
    asyncio.run(serve(Venta(settings), roles))
