"""The worker's side port: ``/health`` (live), ``/ready`` (backends reachable and every handler
loop running) and ``/metrics`` (Prometheus, with consumer and outbox lag read at scrape)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from venta_core.lifecycle import Checkable
from venta_core.observability.health import liveness, readiness
from venta_core.observability.metrics import render
from venta_core.transports.worker import EventWorker

__all__ = ["create_worker_http_app"]

Probe = Callable[[], Awaitable[Mapping[str, str | None]]]
REFRESH_TIMEOUT_SECONDS = 3.0
CHECK_TIMEOUT_SECONDS = 2.0


def create_worker_http_app(
    worker: EventWorker,
    probe: Probe,
    registry: CollectorRegistry,
    *,
    extra_checks: Mapping[str, Checkable] | None = None,
    outbox_pending: Callable[[], Awaitable[int]] | None = None,
    outbox_oldest_age: Callable[[], Awaitable[float]] | None = None,
) -> Starlette:
    """``probe``: the application's readiness (backend name -> error or ``None``);
    ``extra_checks``: what the worker needs beyond it (the event stream, the search index)."""
    extra = dict(extra_checks or {})

    async def one(check: Checkable) -> str | None:
        try:
            await asyncio.wait_for(check.check(), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        return None

    async def health(_: Request) -> Response:
        return JSONResponse(liveness())

    async def ready(_: Request) -> Response:
        async def checks() -> Mapping[str, str | None]:
            results = dict(await probe())
            found = await asyncio.gather(*(one(c) for c in extra.values()))
            results.update(zip(extra, found, strict=True))
            try:
                await worker.check()
                results["worker"] = None
            except Exception as exc:
                results["worker"] = str(exc)
            return results

        ok, body = await readiness(checks)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.refresh_metrics(), REFRESH_TIMEOUT_SECONDS)
        if outbox_pending is not None:
            with contextlib.suppress(Exception):
                pending = await asyncio.wait_for(outbox_pending(), REFRESH_TIMEOUT_SECONDS)
                worker.metrics.outbox_pending.set(pending)
        if outbox_oldest_age is not None:
            with contextlib.suppress(Exception):
                age = await asyncio.wait_for(outbox_oldest_age(), REFRESH_TIMEOUT_SECONDS)
                worker.metrics.outbox_oldest_pending_age.set(age)
        body, content_type = render(registry)
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
