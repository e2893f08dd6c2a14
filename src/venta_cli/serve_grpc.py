"""`venta serve grpc --service user,vendor,location`: serve domain services over gRPC.

Each service gets its own server and port (defaults: user 5000, vendor 5005, location 5001;
``VENTA_GRPC__*_PORT``), so a client finds a service at the same address whichever other
services share its process. SIGTERM or SIGINT drains: health turns NOT_SERVING, new calls are
refused, in-flight calls get ``grpc.shutdown_grace_seconds`` to finish, then the application
stops its components (write-behind flush, outbox relay) in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from venta_core.app import Venta
    from venta_core.settings import Settings
    from venta_core.transports.grpc.server import GrpcServer
    from venta_core.transports.grpc.settings import GrpcSettings

__all__ = ["parse_services", "run_grpc", "serve_grpc"]

log = logging.getLogger(__name__)

KNOWN_SERVICES = ("user", "vendor", "location")


class ServeGrpcError(ValueError):
    """Bad options; ``str()`` is a one-line reason."""


def parse_services(text: str) -> list[str]:
    """``"user, vendor"`` -> ``["user", "vendor"]``; ``"all"`` -> every service."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(KNOWN_SERVICES)
    unknown = [n for n in names if n not in KNOWN_SERVICES]
    if unknown or not names:
        raise ServeGrpcError(
            f"unknown service(s) {', '.join(unknown) or '(none)'}: "
            f"choose from {', '.join(KNOWN_SERVICES)} or all"
        )
    return list(dict.fromkeys(names))


def _addresses(
    services: Sequence[str], host: str, port: int | None, ports: dict[str, int]
) -> dict[str, str]:
    if port is not None and len(services) > 1:
        raise ServeGrpcError("--port needs exactly one --service; set VENTA_GRPC__<NAME>_PORT")
    bracketed = f"[{host}]" if ":" in host else host
    return {s: f"{bracketed}:{port if port is not None else ports[s]}" for s in services}


def _handle_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    return handled


async def run_grpc(
    app: Venta,
    addresses: dict[str, str],
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], Awaitable[None] | None] | None = None,
    grpc_settings: GrpcSettings | None = None,
) -> None:
    """Serve each service of ``addresses`` (name -> ``host:port``) from ``app`` until ``stop``
    is set or a signal arrives; ``on_ready`` gets the bound ports. Ports are bound before the
    application starts, so a busy port fails fast. ``grpc_settings`` defaults to
    ``app.settings.grpc``."""
    from venta_core.transports.grpc.server import build_grpc_server

    stop = stop or asyncio.Event()
    handled = _handle_signals(stop)
    servers: list[GrpcServer] = []
    app_started = False
    try:
        for service, address in addresses.items():
            servers.append(build_grpc_server(app, [service], address, settings=grpc_settings))
        await app.start()  # stops itself when it fails
        app_started = True
        for server in servers:
            await server.start()
        if on_ready is not None:
            result = on_ready({s.services[0]: s.port for s in servers})
            if asyncio.iscoroutine(result):
                await result
        await stop.wait()
        log.info("gRPC shutting down: draining in-flight calls")
    finally:
        await asyncio.gather(*(server.stop() for server in servers))
        if app_started:
            await app.stop()
        loop = asyncio.get_running_loop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def serve_grpc(
    services: str,
    host: str | None = None,
    port: int | None = None,
    *,
    settings: Settings | None = None,
) -> None:
    """Blocking entry point of `venta serve grpc`; exits with a one-line reason on bad input."""
    from venta_cli.errors import fail, settings_or_exit, user_errors

    settings = settings if settings is not None else settings_or_exit()
    from venta_core.app import Venta
    from venta_core.observability.logging import configure_logging
    from venta_core.transports.grpc.server import GrpcServerError
    from venta_core.transports.grpc.settings import placeholder_secret_error

    grpc_settings = settings.grpc
    problem = placeholder_secret_error(grpc_settings, settings.env.value)
    if problem:
        fail(problem, code=2)
    ports = {s: grpc_settings.port_of(s) for s in KNOWN_SERVICES}
    try:
        chosen = parse_services(services)
        addresses = _addresses(chosen, host or grpc_settings.host, port, ports)
    except ServeGrpcError as exc:
        fail(str(exc), code=2)
    configure_logging(settings.log)
    with user_errors():
        try:
            asyncio.run(run_grpc(Venta(settings), addresses))
        except GrpcServerError as exc:
            fail(str(exc))
