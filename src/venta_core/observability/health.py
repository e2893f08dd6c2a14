"""Liveness and readiness reports shared by every role's ``/health`` and ``/ready``.

Liveness says only that the process answers; it never looks at dependencies, so a database
outage does not make an orchestrator restart healthy processes. Readiness runs the
application's component checks under a deadline and reports each one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from venta_core.observability.logging import redact

__all__ = ["ReadinessReport", "liveness", "readiness"]

ReadinessProbe = Callable[[], Awaitable[Mapping[str, str | None]]]
ReadinessReport = tuple[bool, dict[str, Any]]

_MAX_ERROR_CHARS = 300


def liveness() -> dict[str, str]:
    return {"status": "ok"}


async def readiness(probe: ReadinessProbe, timeout_seconds: float = 5.0) -> ReadinessReport:
    """Run ``probe`` and return ``(ready, body)``.

    ``body`` is ``{"status": "ready" | "unavailable", "checks": {name: "ok" | error}}``. A probe
    that raises or overruns the deadline counts as one failed ``readiness`` check. Error texts
    are shortened and have credentials masked, because the endpoint is public.
    """
    try:
        results = await asyncio.wait_for(probe(), timeout_seconds)
    except TimeoutError:
        results = {"readiness": f"timed out after {timeout_seconds:g}s"}
    except Exception as exc:
        results = {"readiness": f"{type(exc).__name__}: {exc}"}
    checks = {name: "ok" if error is None else _clean(error) for name, error in results.items()}
    ready = all(error is None for error in results.values())
    return ready, {"status": "ready" if ready else "unavailable", "checks": checks}


def _clean(error: str) -> str:
    text = str(redact(str(error))) or "error"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."
