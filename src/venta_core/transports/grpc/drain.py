"""The graceful stop of a gRPC server, and the calls it waits for.

A server that simply stops loses calls: gRPC answers ``CANCELLED`` to calls it had accepted but
not yet handed to the application, and to every call still running when the grace period ends.
``stop_gracefully`` therefore stops in five steps, each for a reason:

1. **NOT_SERVING.** The standard health service turns ``NOT_SERVING`` for ``""`` and every hosted
   service. venta's clients watch the health of each server their channel balances over (the
   ``healthCheckConfig`` of ``channels.channel_options``), so their next calls go to the other
   replicas, or, with no replica left, fail fast as ``UNAVAILABLE`` and are retried.
2. **Drain.** For ``drain`` seconds the server still answers every call as usual: calls already
   on the way, and clients that do not watch health, are served.
3. **Refuse.** ``grpc.aio.Server.stop`` closes the listener and sends GOAWAY; gRPC clients send
   new calls elsewhere.
4. **Finish.** Calls in flight get ``grace`` seconds.
5. **Interrupt.** A call still running then is cancelled and answered ``UNAVAILABLE`` without
   venta trailers, which a client reads as "the peer went away": idempotent calls are retried on
   another replica, others reach the caller as ``SERVICE_UNAVAILABLE`` (HTTP 503).

``InFlightCalls`` is the server interceptor that knows which calls run (unary ones: every venta
RPC; the health service's ``Watch`` streams are not waited for) and interrupts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc.aio

from venta_core.transports.grpc.interceptors import Behaviour, wrap_unary

__all__ = ["SHUTTING_DOWN", "InFlightCalls", "stop_gracefully"]

log = logging.getLogger(__name__)

#: Status message of calls answered UNAVAILABLE because the server stops.
SHUTTING_DOWN = "The server is shutting down; retry on another replica"

#: How long interrupted calls get to send their status before gRPC cancels what is left.
_INTERRUPT_SECONDS = 1.0


class InFlightCalls(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Tracks the unary calls running on a server; ``interrupt`` ends them with UNAVAILABLE.

    Chained innermost (next to the servicer), so the metrics and the access log record the
    UNAVAILABLE of an interrupted call like any other status.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()
        self._interrupted: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Event | None = None
        self.closed = False

    @property
    def running(self) -> int:
        """How many calls run now. (No ``__len__``: gRPC tests interceptors for truth.)"""
        return len(self._running)

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any
    ) -> Any:
        return wrap_unary(await continuation(handler_call_details), self._around)

    def _around(self, inner: Behaviour) -> Behaviour:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if self.closed:  # accepted by gRPC just before it stopped accepting
                await context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                return await inner(request, context)
            except asyncio.CancelledError:
                if task not in self._interrupted:
                    raise  # the client went away, or gRPC cancelled the call
                task.uncancel()
                await context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
            finally:
                self._running.discard(task)
                self._interrupted.discard(task)
                if not self._running and self._idle is not None:
                    self._idle.set()

        return behaviour

    async def wait_idle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the running calls to end; True if they did."""
        if not self._running:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return not self._running
        return True

    async def interrupt(self) -> int:
        """Refuse calls from now on and end the running ones with UNAVAILABLE; how many ran."""
        self.closed = True
        running = list(self._running)
        for task in running:
            self._interrupted.add(task)
            task.cancel()
        await self.wait_idle(_INTERRUPT_SECONDS)
        return len(running)


async def stop_gracefully(
    server: grpc.aio.Server,
    set_not_serving: Callable[[], Awaitable[None]],
    calls: InFlightCalls,
    *,
    drain: float,
    grace: float,
    name: str = "gRPC server",
) -> None:
    """Stop ``server`` in the steps of the module docstring; never raises."""
    try:
        await set_not_serving()
        if drain > 0:
            await asyncio.sleep(drain)
        # gRPC's own grace outlasts ours, so it cancels nothing before the interrupt has run.
        refusing = asyncio.ensure_future(server.stop(grace + _INTERRUPT_SECONDS + 1.0))
        await asyncio.sleep(0)  # let it stop accepting before the calls are counted
        if not await calls.wait_idle(grace):
            interrupted = await calls.interrupt()
            log.warning(
                "%s: %d call(s) still running after the %gs grace period were answered UNAVAILABLE",
                *(name, interrupted, grace),
            )
        calls.closed = True
        await server.stop(0)  # ends what does not end by itself: health Watch streams
        await refusing
    except Exception:
        log.exception("stopping the %s failed", name)
