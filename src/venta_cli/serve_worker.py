"""`venta serve worker`: the outbox relay and every event handler, with a side port.

The worker runs each handler registered through ``venta_event_handlers`` (the built-in search
sync, plugin handlers) from its own durable consumer, at most ``worker.concurrency`` events at
a time per handler, and serves ``/health``, ``/ready`` and ``/metrics`` on ``worker.port``
(8002). SIGTERM or SIGINT drains: no more events are fetched, events being handled get
``worker.drain_timeout_seconds`` to finish (the rest are delivered again later, to this or
another worker), then the application stops (final outbox relay pass included).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from venta_core.app import Venta

__all__ = ["run_worker", "serve_worker"]

log = logging.getLogger(__name__)


def _handle_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    return handled


async def run_worker(
    app: Venta,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], Awaitable[None] | None] | None = None,
) -> None:
    """Run ``app`` as a worker until ``stop`` is set or a signal arrives. The side port is
    bound before the application starts (a busy port fails fast); ``on_ready`` gets
    ``{"worker": port}``."""
    import uvicorn

    from venta_core.observability.banner import announce, url
    from venta_core.observability.metrics import new_registry
    from venta_core.runner import bind_socket, until_started
    from venta_core.store.outbox_age import oldest_pending_age
    from venta_core.transports.listener import HeadLimits, http_config
    from venta_core.transports.worker.http import create_worker_http_app

    class Server(uvicorn.Server):
        """No signal handling of its own: this function owns SIGTERM/SIGINT."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    stop = stop or asyncio.Event()
    settings = app.settings.worker
    sock = bind_socket(settings.host, settings.port)
    registry = new_registry()
    worker = app.enable_worker(registry=registry)
    side = create_worker_http_app(
        worker,
        app.readiness,
        registry,
        extra_checks={"stream": app.stream, "search": app.search_index},
        outbox_pending=app.relay.pending_count,
        outbox_oldest_age=functools.partial(oldest_pending_age, app.database),
    )
    config = http_config(side, HeadLimits.of(app.settings.http))
    server = Server(config)
    handled = _handle_signals(stop)
    started = False
    task: asyncio.Task[None] | None = None
    try:
        await app.start()
        started = True
        task = asyncio.create_task(server.serve(sockets=[sock]))
        port = int(sock.getsockname()[1])
        handlers = ", ".join(worker.handlers) or "none"
        await until_started([server], [task])
        announce(
            f"worker with handlers {handlers}",
            {
                "health": url(settings.host, port, "/health"),
                "metrics": url(settings.host, port, "/metrics"),
            },
        )
        if on_ready is not None:
            result = on_ready({"worker": port})
            if asyncio.iscoroutine(result):
                await result
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        log.info("venta worker draining")
    finally:
        # Before the app's own (time-bounded) stop, as drain may take longer: the relay's
        # last pass first, then the handlers finish what they hold.
        await app.relay.stop()
        await worker.stop()
        if task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task
        sock.close()
        if started:
            await app.stop()
        loop = asyncio.get_running_loop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def serve_worker(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="HOST",
            help="Interface of /health, /ready, /metrics (VENTA_WORKER__HOST).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=0,
            max=65535,
            help="Port of /health, /ready, /metrics (VENTA_WORKER__PORT, 8002; 0: any free port).",
        ),
    ] = None,
) -> None:
    """Event handlers (search sync, plugins) on durable JetStream consumers, and the outbox
    relay, with /health, /ready and /metrics on a side port. SIGTERM drains."""
    from venta_cli.errors import settings_or_exit, user_errors

    settings = settings_or_exit(logs=True)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update={"worker": settings.worker.model_copy(update=overrides)})
    from venta_core.app import Venta
    from venta_core.observability.logging import configure_logging
    from venta_core.observability.tracing import configure_tracing, shutdown_tracing

    configure_logging(settings.log)
    configure_tracing("venta-worker")
    with user_errors():
        try:
            asyncio.run(run_worker(Venta(settings)))
        finally:
            shutdown_tracing()
