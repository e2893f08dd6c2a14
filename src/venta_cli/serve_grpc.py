"""`venta serve grpc --service user,vendor,location`: serve domain services over gRPC.

Each service gets its own server and port (defaults: user 5000, vendor 5005, location 5001;
``VENTA_GRPC__*_PORT``), so a client finds a service at the same address whichever other
services share its process. One HTTP side port per process (``VENTA_GRPC__METRICS_PORT``,
default: the first gRPC port plus 4000) serves ``/health``, ``/ready`` and ``/metrics``.
Every port is bound before the application starts, so a taken port fails at once, in one line.

SIGTERM or SIGINT drains (``venta_core.transports.grpc.drain``): health and ``/ready`` turn
NOT_SERVING, calls are still answered for ``grpc.shutdown_drain_seconds`` while clients move to
other replicas, then new calls are refused, in-flight calls get ``grpc.shutdown_grace_seconds``
to finish (those still running are answered UNAVAILABLE), and the application stops its
components (write-behind flush, outbox relay) in reverse order; ``/health`` answers until the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from venta_core.app import Venta
    from venta_core.settings import Settings
    from venta_core.transports.grpc.ops import OpsServer
    from venta_core.transports.grpc.server import GrpcServer
    from venta_core.transports.grpc.settings import GrpcSettings

OnReady = Callable[[dict[str, int]], Awaitable[None] | None]
OnOpsReady = Callable[[int], Awaitable[None] | None]

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


def _check_ports(host: str, addresses: dict[str, str], settings: GrpcSettings) -> None:
    """Fail with ``GrpcServerError`` when a gRPC port or the side port is taken."""
    from venta_core.transports.grpc.ops import PURPOSE
    from venta_core.transports.grpc.server import ensure_port_free

    ports = [int(address.rpartition(":")[2]) for address in addresses.values()]
    for grpc_port in ports:
        ensure_port_free(host, grpc_port)
    ensure_port_free(host, settings.metrics_port_for(ports[0]), PURPOSE)


def _handle_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    return handled


def _registry(app: Venta) -> CollectorRegistry:
    """The process's registry: process collectors, plus the client metrics of the remote
    services this process calls (a location service calling the vendor service, say)."""
    from venta_core.observability.metrics import new_registry

    registry = new_registry()
    client_metrics = getattr(app.grpc_clients, "metrics", None)
    if client_metrics is not None:
        registry.register(client_metrics)
    return registry


def _ops_server(
    app: Venta,
    servers: Sequence[GrpcServer],
    registry: CollectorRegistry,
    host: str,
    port: int,
) -> OpsServer:
    from venta_core.transports.grpc.ops import OpsServer
    from venta_core.transports.listener import HeadLimits

    async def probe() -> dict[str, str | None]:
        if not servers or not all(server.serving for server in servers):
            return {"grpc-server": "not serving (starting or draining)"}
        return {**await app.readiness(), "grpc-server": None}

    return OpsServer(probe, registry, host, port, limits=HeadLimits.of(app.settings.http))


def _announce(servers: Sequence[GrpcServer], ops: OpsServer) -> None:
    """The start-up banner: each service's address, then the side port's URLs."""
    from venta_core.observability.banner import announce

    endpoints = {server.services[0]: server.address for server in servers}
    endpoints |= {"health": f"{ops.url}/health", "metrics": f"{ops.url}/metrics"}
    announce("grpc", endpoints)


async def _call(callback: Callable[..., Awaitable[None] | None] | None, value: object) -> None:
    if callback is not None:
        result = callback(value)
        if asyncio.iscoroutine(result):
            await result


async def run_grpc(
    app: Venta,
    addresses: dict[str, str],
    *,
    stop: asyncio.Event | None = None,
    on_ready: OnReady | None = None,
    grpc_settings: GrpcSettings | None = None,
    metrics_port: int | None = None,
    on_ops_ready: OnOpsReady | None = None,
) -> None:
    """Serve each service of ``addresses`` (name -> ``host:port``) from ``app`` until ``stop``
    is set or a signal arrives; ``on_ready`` gets the bound gRPC ports, ``on_ops_ready`` the
    side HTTP port (``metrics_port``, default from ``grpc_settings``, which defaults to
    ``app.settings.grpc``). Ports are bound before the application starts, so a busy port
    fails fast."""
    from venta_core.observability.grpc_metrics import GrpcServerMetrics
    from venta_core.transports.grpc.server import build_grpc_server

    settings = grpc_settings if grpc_settings is not None else app.settings.grpc
    stop = stop or asyncio.Event()
    handled = _handle_signals(stop)
    servers: list[GrpcServer] = []
    ops: OpsServer | None = None
    app_started = False
    try:
        registry = _registry(app)
        metrics = GrpcServerMetrics(registry)
        for service, address in addresses.items():
            servers.append(
                build_grpc_server(app, [service], address, settings=settings, metrics=metrics)
            )
        first = servers[0]
        port = metrics_port if metrics_port is not None else settings.metrics_port_for(first.port)
        ops = _ops_server(app, servers, registry, first.host, port)
        await ops.start()  # /health answers while the application starts
        await _call(on_ops_ready, ops.port)
        await app.start()  # stops itself when it fails
        app_started = True
        for server in servers:
            await server.start()
        _announce(servers, ops)
        await _call(on_ready, {s.services[0]: s.port for s in servers})
        await stop.wait()
        log.info("gRPC shutting down: draining in-flight calls")
    finally:
        await asyncio.gather(*(server.stop() for server in servers))
        if app_started:
            await app.stop()
        if ops is not None:
            await ops.stop()
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

    settings = settings if settings is not None else settings_or_exit(logs=True)
    from venta_core.app import Venta
    from venta_core.observability.logging import configure_logging
    from venta_core.observability.tracing import (
        configure_tracing,
        process_service_name,
        shutdown_tracing,
    )
    from venta_core.transports.grpc.ops import OpsServerError
    from venta_core.transports.grpc.server import GrpcServerError
    from venta_core.transports.grpc.settings import (
        placeholder_secret_error,
        placeholder_secret_warning,
    )

    grpc_settings = settings.grpc
    problem = placeholder_secret_error(grpc_settings, settings.env.value)
    if problem:
        fail(problem, code=2)
    ports = {s: grpc_settings.port_of(s) for s in KNOWN_SERVICES}
    bind_host = host or grpc_settings.host
    try:
        chosen = parse_services(services)
        addresses = _addresses(chosen, bind_host, port, ports)
    except ServeGrpcError as exc:
        fail(str(exc), code=2)
    try:  # before plugins load and log: a taken port is one line, nothing else
        _check_ports(bind_host, addresses, grpc_settings)
    except GrpcServerError as exc:
        fail(str(exc))
    configure_logging(settings.log)
    warning = placeholder_secret_warning(grpc_settings, settings.env.value)
    if warning and not settings.remote_services:  # else the application warns, as a client
        log.warning(warning)
    configure_tracing(process_service_name((), list(addresses)))
    with user_errors():
        try:
            asyncio.run(run_grpc(Venta(settings), addresses))
        except (GrpcServerError, OpsServerError) as exc:
            fail(str(exc))
        finally:
            shutdown_tracing()
