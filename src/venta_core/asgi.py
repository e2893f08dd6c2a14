"""venta inside another ASGI application: its HTTP API and Socket.IO endpoint under a path
prefix of an existing FastAPI or Starlette app, started and stopped with it.

``create_asgi_app(app)`` returns a ``VentaASGI``: the HTTP gateway with the real-time gateway
at ``/socket.io/``, as one ASGI application with a lifespan that starts and stops the ``Venta``
(served by itself, uvicorn runs that lifespan). ``mount(host, app, prefix="/venta")`` mounts it
on ``host`` and chains its lifespan around the host's own, so venta is started before the host's
startup code runs and stopped after its shutdown code::

    host = FastAPI()
    mount(host, Venta(settings), prefix="/venta")
    # GET /venta/v1/me ..., Socket.IO clients connect with path "/venta/socket.io"

Socket.IO's engine matches its path on the whole request path, where a mounted app sees its
prefix too; ``VentaASGI`` hands it the path below the prefix.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from venta_core.app import Venta
from venta_core.observability.metrics import new_registry
from venta_core.roles import forget_deleted_identities, stop_worker

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["VentaASGI", "create_asgi_app", "mount"]

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io"


class VentaASGI:
    """The HTTP gateway of a ``Venta`` (and, with ``realtime``, Socket.IO at ``/socket.io/``)
    as one ASGI application; ``lifespan()`` starts and stops the application with it."""

    def __init__(
        self,
        app: Venta,
        *,
        realtime: bool = True,
        worker: bool = False,
        registry: CollectorRegistry | None = None,
    ) -> None:
        from venta_core.transports.http import create_http_app
        from venta_core.transports.realtime import RealtimeGateway, create_realtime_gateway

        self.venta = app
        registry = registry if registry is not None else new_registry()
        if worker:
            app.enable_worker(registry=registry)
        self.http = create_http_app(app, registry=registry)
        self.realtime: RealtimeGateway | None = None
        self._app: Any = self.http
        if realtime:
            self.realtime = create_realtime_gateway(app, registry=registry)
            self._app = self.realtime.asgi(self.http)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_protocol(receive, send)
            return
        if self.realtime is not None and scope["type"] in ("http", "websocket"):
            scope = _below_prefix_for_socketio(scope)
        await self._app(scope, receive, send)

    async def start(self) -> None:
        """Start the application, then the real-time gateway and the identity-cache listener."""
        await self.venta.start()
        try:
            if self.realtime is not None:
                await self.realtime.start()
            await forget_deleted_identities(self.venta, self.http.state.identity_cache)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop in reverse order; never raises."""
        if self.realtime is not None:
            self.realtime.draining()
            try:
                await self.realtime.stop()
            except Exception:
                log.exception("stopping the real-time gateway failed")
        if self.venta.worker is not None:
            try:
                await stop_worker(self.venta)
            except Exception:
                log.exception("stopping the worker failed")
        await self.venta.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _lifespan_protocol(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol, for a server running this app by itself."""
        await receive()  # lifespan.startup
        try:
            await self.start()
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self.stop()
        await send({"type": "lifespan.shutdown.complete"})


def create_asgi_app(
    app: Venta,
    *,
    realtime: bool = True,
    worker: bool = False,
    registry: CollectorRegistry | None = None,
) -> VentaASGI:
    """venta's HTTP API and, with ``realtime``, its Socket.IO endpoint as one ASGI app with a
    lifespan. ``worker`` also runs the event handlers in this process; ``registry`` is the
    Prometheus registry its metrics go to (``/metrics`` of the mounted API serves it)."""
    return VentaASGI(app, realtime=realtime, worker=worker, registry=registry)


def mount(
    host: Starlette,
    app: Venta,
    prefix: str = "/venta",
    *,
    realtime: bool = True,
    worker: bool = False,
    registry: CollectorRegistry | None = None,
) -> VentaASGI:
    """Mount venta on ``host`` (a FastAPI or Starlette application) under ``prefix`` and start
    and stop it with ``host``'s lifespan: venta starts before the host's own startup code and
    stops after its shutdown code. Call before ``host`` serves; returns the mounted app."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"the prefix must start with '/' and not end with one: {prefix!r}")
    asgi = create_asgi_app(app, realtime=realtime, worker=worker, registry=registry)
    host.mount(prefix, asgi)
    host.router.lifespan_context = _chained(asgi, host.router.lifespan_context)
    return asgi


def _chained(
    venta: VentaASGI, inner: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]:
    @contextlib.asynccontextmanager
    async def lifespan(host_app: Any) -> AsyncIterator[Any]:
        async with venta.lifespan(), inner(host_app) as state:
            yield state

    return lifespan


def _below_prefix_for_socketio(scope: Scope) -> Scope:
    """A Socket.IO request under a mount prefix, with the path Socket.IO's engine matches."""
    root = scope.get("root_path", "")
    path: str = scope["path"]
    if root and path.startswith(root + SOCKETIO_PATH):
        return {**scope, "path": path[len(root) :]}
    return scope
