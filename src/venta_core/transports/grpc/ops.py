"""The side HTTP port of a gRPC process: ``/health``, ``/ready`` and ``/metrics``.

Orchestrators and scrapers speak HTTP, so a process serving gRPC also answers, on one small
HTTP port (``grpc.metrics_port``):

* ``GET /health``: liveness, ``200 {"status": "ok"}`` while the process runs;
* ``GET /ready``: ``200`` when every backend the process uses is reachable and its gRPC servers
  are serving, else ``503``; the body names each check (as the gateway's ``/ready``);
* ``GET /metrics``: the Prometheus text of the process's registry (gRPC server metrics, client
  metrics of the remote services it calls, process collectors).

The socket is bound when ``OpsServer`` is built, so a taken port fails before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Generator

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from venta_core.observability.health import ReadinessProbe, liveness, readiness
from venta_core.observability.metrics import render
from venta_core.transports.listener import HeadLimits, http_config

__all__ = [
    "PURPOSE",
    "READINESS_TIMEOUT_SECONDS",
    "OpsServer",
    "OpsServerError",
    "create_ops_app",
]

log = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 5.0
#: Names the side port in error messages.
PURPOSE = " for /health, /ready and /metrics (VENTA_GRPC__METRICS_PORT)"
_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 5.0


class OpsServerError(RuntimeError):
    """The side port cannot be bound; ``str()`` is a one-line reason."""


def create_ops_app(probe: ReadinessProbe, registry: CollectorRegistry) -> Starlette:
    """The ASGI application of the side port."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(liveness())

    async def ready(request: Request) -> JSONResponse:
        ok, body = await readiness(probe, READINESS_TIMEOUT_SECONDS)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        content, media_type = render(registry)
        return Response(content, media_type=media_type)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as exc:
        raise OpsServerError(f"cannot listen on {host}:{port}{PURPOSE}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OpsServerError(f"cannot listen on {host}:{port}{PURPOSE}: {reason}") from None
    sock.set_inheritable(True)
    return sock


class OpsServer:
    """``/health``, ``/ready`` and ``/metrics`` on ``host:port`` (0: any free port), request
    heads bounded by ``limits`` (``transports.listener``).

    ``await start()`` serves in a background task; ``await stop()`` is bounded, never raises.
    """

    def __init__(
        self,
        probe: ReadinessProbe,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        limits: HeadLimits | None = None,
    ) -> None:
        self.host = host
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = http_config(
            create_ops_app(probe, registry), limits or HeadLimits(), timeout_graceful_shutdown=1
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise OpsServerError(f"the HTTP side port {self.port} stopped at start")
            if loop.time() > deadline:
                raise OpsServerError(f"the HTTP side port {self.port} did not start")
            await asyncio.sleep(0.01)
        log.debug("gRPC process health and metrics on %s", self.url)

    async def stop(self) -> None:
        task, self._task = self._task, None
        try:
            if task is not None:
                self._server.should_exit = True
                try:
                    await asyncio.wait_for(task, _STOP_TIMEOUT_SECONDS)
                except TimeoutError:
                    log.warning("the HTTP side port did not stop in time")
                except Exception:
                    log.exception("the HTTP side port stopped with an error")
        finally:
            self._socket.close()
