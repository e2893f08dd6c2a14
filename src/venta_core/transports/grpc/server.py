"""A grpc.aio server hosting chosen venta services, the standard health service and,
behind ``grpc.reflection``, server reflection.

Health: each hosted service (``venta.v1.UserService``, ...) and the overall status ``""`` are
``SERVING`` once started and ``NOT_SERVING`` from the moment a stop begins, so clients, load
balancers and Kubernetes probes stop sending traffic; ``stop`` then drains, refuses new calls and
lets in-flight calls finish within the grace period (see ``drain``).

Interceptors, outermost first: metrics (when ``metrics`` is given), the identity check, any
extra ``interceptors``, the access log (see ``interceptors``), then the in-flight call tracker
that a stop waits for. A port that is already taken is reported as a one-line
``GrpcServerError`` before gRPC tries to bind it.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from venta_core.observability.grpc_metrics import GrpcServerMetrics
from venta_core.services.protocols import LocationService, UserService, VendorService
from venta_core.transports.grpc.channels import signer_from
from venta_core.transports.grpc.clients import (
    GrpcLocationClient,
    GrpcUserClient,
    GrpcVendorClient,
)
from venta_core.transports.grpc.drain import InFlightCalls, stop_gracefully
from venta_core.transports.grpc.interceptors import (
    AccessLogServerInterceptor,
    MetricsServerInterceptor,
)
from venta_core.transports.grpc.metadata import IdentityServerInterceptor
from venta_core.transports.grpc.servicers import LocationServicer, UserServicer, VendorServicer
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.stubs import location_pb2_grpc, user_pb2_grpc, vendor_pb2_grpc
from venta_core.transports.grpc.tracing import server_interceptors

__all__ = [
    "SERVICE_NAMES",
    "GrpcServer",
    "GrpcServerError",
    "ServiceHost",
    "build_grpc_server",
    "ensure_port_free",
]

log = logging.getLogger(__name__)

#: Short service name -> full gRPC service name.
SERVICE_NAMES: dict[str, str] = {
    "user": "venta.v1.UserService",
    "vendor": "venta.v1.VendorService",
    "location": "venta.v1.LocationService",
}
_REMOTE_CLIENTS: dict[str, type] = {
    "user": GrpcUserClient,
    "vendor": GrpcVendorClient,
    "location": GrpcLocationClient,
}


class GrpcServerError(RuntimeError):
    """The server cannot be built or cannot listen; ``str()`` is a one-line reason."""


class _HasGrpcSettings(Protocol):
    @property
    def grpc(self) -> GrpcSettings: ...


class ServiceHost(Protocol):
    """What the server needs from the application (``Venta`` fits)."""

    @property
    def settings(self) -> _HasGrpcSettings: ...
    @property
    def users(self) -> UserService: ...
    @property
    def vendors(self) -> VendorService: ...
    @property
    def locations(self) -> LocationService: ...


def _server_options(settings: GrpcSettings) -> list[tuple[str, int]]:
    options = [
        ("grpc.so_reuseport", 0),  # a second server on a busy port fails instead of sharing it
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_seconds * 1000)),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ]
    if settings.max_connection_age_seconds > 0:
        # Clients keep one long-lived HTTP/2 connection per server and resolve addresses only
        # when it drops: without an age limit, replicas added later would get no traffic.
        # gRPC adds +-10% jitter so clients do not all reconnect at once.
        options += [
            ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
            (
                "grpc.max_connection_age_grace_ms",
                int(settings.max_connection_age_grace_seconds * 1000),
            ),
        ]
    return options


def _credentials(settings: GrpcSettings) -> Any:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    ca = settings.tls_ca_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=None if ca is None else ca.read_bytes(),
        require_client_auth=ca is not None,
    )


def _register(server: grpc.aio.Server, app: ServiceHost, service: str) -> None:
    local = {"user": app.users, "vendor": app.vendors, "location": app.locations}[service]
    if isinstance(local, _REMOTE_CLIENTS[service]):
        raise GrpcServerError(
            f"the {service} service is configured as remote "
            f"(VENTA_SERVICES__{service.upper()}__ADDRESS); a process serving it must run it "
            "in-process"
        )
    if service == "user":
        user_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(app.users), server)
    elif service == "vendor":
        vendor_pb2_grpc.add_VendorServiceServicer_to_server(VendorServicer(app.vendors), server)
    else:
        location_pb2_grpc.add_LocationServiceServicer_to_server(
            LocationServicer(app.locations), server
        )


class GrpcServer:
    """A built server: ``await start()``, then ``await stop()`` (graceful, never raises)."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        host: str,
        services: Sequence[str],
        health_servicer: health.aio.HealthServicer,
        calls: InFlightCalls,
        settings: GrpcSettings,
    ) -> None:
        self.server = server
        self.port = port
        self.host = host
        self.services = list(services)
        self.health = health_servicer
        self.calls = calls
        self.grace_seconds = settings.shutdown_grace_seconds
        self.drain_seconds = settings.shutdown_drain_seconds
        self._started = False
        self._stopped = False

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def serving(self) -> bool:
        """Started and not stopping: what readiness reports for this server."""
        return self._started and not self._stopped

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *(SERVICE_NAMES[s] for s in self.services)]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._started = True
        log.debug("gRPC %s serving on %s", ",".join(self.services), self.address)

    async def stop(self, grace: float | None = None, *, drain: float | None = None) -> None:
        """NOT_SERVING, ``drain`` seconds still serving, then refuse new calls and give those
        in flight ``grace`` seconds; calls still running are answered UNAVAILABLE. Both default
        to the settings (``shutdown_drain_seconds``, ``shutdown_grace_seconds``); a server that
        never started is not drained."""
        if self._stopped:
            return
        self._stopped = True
        await stop_gracefully(
            self.server,
            self.health.enter_graceful_shutdown,
            self.calls,
            drain=(self.drain_seconds if drain is None else drain) if self._started else 0.0,
            grace=self.grace_seconds if grace is None else grace,
            name=f"gRPC server on {self.address}",
        )

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise GrpcServerError(f"address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


def ensure_port_free(host: str, port: int, purpose: str = "") -> None:
    """Raise ``GrpcServerError`` when ``host:port`` cannot be bound (taken, or no such address);
    ``purpose`` (e.g. `` for /metrics``) follows the address in the message.

    gRPC itself would report a taken port with a multi-line message on stderr; checking first
    keeps the failure of ``venta serve grpc`` to one line. ``SO_REUSEADDR`` matches what gRPC
    sets, so a port whose previous owner just exited (TIME_WAIT) is not reported as taken.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise GrpcServerError(f"cannot listen on {host}:{port}{purpose}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise GrpcServerError(f"cannot listen on {host}:{port}{purpose}: {reason}") from None


def build_grpc_server(
    app: ServiceHost,
    services: Sequence[str],
    address: str,
    *,
    settings: GrpcSettings | None = None,
    interceptors: Sequence[Any] = (),
    metrics: GrpcServerMetrics | None = None,
) -> GrpcServer:
    """A server hosting ``services`` (``user``, ``vendor``, ``location``) of ``app`` at
    ``address`` (``host:port``; port 0 picks a free one, see ``GrpcServer.port``). Calls are
    counted in ``metrics`` when given."""
    settings = settings if settings is not None else app.settings.grpc
    unknown = sorted(set(services) - set(SERVICE_NAMES))
    if unknown or not services:
        raise GrpcServerError(
            f"unknown gRPC service(s): {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(SERVICE_NAMES)}"
        )
    services = list(dict.fromkeys(services))
    host, port_wanted = _split(address)
    ensure_port_free(host, port_wanted)
    # Tracing outermost, so its span covers the whole call and its context reaches the rest.
    chain: list[Any] = server_interceptors()
    chain += [] if metrics is None else [MetricsServerInterceptor(metrics)]
    chain += [IdentityServerInterceptor(signer_from(settings)), *interceptors]
    calls = InFlightCalls()
    chain += [AccessLogServerInterceptor(), calls]
    server = grpc.aio.server(interceptors=chain, options=_server_options(settings))
    for service in services:
        _register(server, app, service)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        names = [SERVICE_NAMES[s] for s in services]
        names += [health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, server)
    credentials = _credentials(settings)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise GrpcServerError(f"cannot listen on {address}: {exc}") from None
    if not port:
        raise GrpcServerError(f"cannot listen on {address}")
    return GrpcServer(server, port, host, services, health_servicer, calls, settings)
