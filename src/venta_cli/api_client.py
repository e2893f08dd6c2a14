"""A client of a running server's HTTP API, for the demo commands.

`venta demo seed` and `venta demo simulate` act as ordinary API users: they mint development
tokens from the local settings (so the server must share ``VENTA_AUTH__DEV_SECRET``) and call
the public routes, so what they create goes through the same services, outbox, search sync and
geo index as any client's request, and shows on the running server at once.

The client waits out ``429`` answers for as long as their ``Retry-After`` says (the demo owner
makes more requests than one identity's default allowance when seeding hundreds of vendors),
turns the API's error bodies into ``ApiError`` with their stable code, and a server that cannot
be reached into ``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from venta_core.settings import Settings

__all__ = ["ApiClient", "ApiError", "answers", "local_url"]

PROBE_TIMEOUT_SECONDS = 2.0
#: Rate-limited attempts of one request before giving up (each waits out ``Retry-After``).
MAX_RATE_LIMITED_ATTEMPTS = 5
#: Bounds of one wait for a ``Retry-After`` (a missing or odd header waits the least).
RETRY_AFTER_BOUNDS = (1.0, 120.0)
#: A server bound to every interface is reached on the loopback one.
_ANY_INTERFACE = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def local_url(settings: Settings) -> str:
    """Where a `venta serve` started with ``settings`` on this machine answers HTTP."""
    host = _ANY_INTERFACE.get(settings.http.host, settings.http.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}"


async def answers(url: str) -> bool:
    """Whether a server answers at ``url`` (its liveness route ``/health`` says 200)."""
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
            response = await http.get(f"{url.rstrip('/')}/health")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


class ApiError(Exception):
    """An error answer of the API: its status and stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "HTTP_ERROR", response.text[:200] or response.reason_phrase
        return cls(response.status_code, code, message)


class ApiClient:
    """``async with ApiClient(url, tokens) as api: await api.call("GET", "/v1/me", "alice")``.

    ``tokens(subject)`` mints the bearer token of ``subject`` (once per subject);
    ``on_wait(seconds)`` is told of each wait for a rate limit."""

    def __init__(
        self,
        url: str,
        tokens: Callable[[str], str],
        *,
        on_wait: Callable[[float], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._tokens = tokens
        self._minted: dict[str, str] = {}
        self._on_wait = on_wait
        self._timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, subject: str, body: Any = None) -> Any:
        """The JSON answer of ``method path`` as ``subject`` (``None`` for an empty one)."""
        token = self._minted.get(subject)
        if token is None:
            token = self._minted[subject] = self._tokens(subject)
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(1, MAX_RATE_LIMITED_ATTEMPTS + 1):
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.TimeoutException:
                raise ConnectionError(
                    f"{method} {self.url}{path}: no answer within {self._timeout:g} s"
                ) from None
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
                raise ConnectionError(f"{method} {self.url}{path}: {reason}") from None
            if response.status_code != 429 or attempt == MAX_RATE_LIMITED_ATTEMPTS:
                break
            delay = _retry_after(response)
            if self._on_wait is not None:
                self._on_wait(delay)
            await asyncio.sleep(delay)
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response.json() if response.content else None


def _retry_after(response: httpx.Response) -> float:
    low, high = RETRY_AFTER_BOUNDS
    try:
        seconds = float(response.headers.get("Retry-After", low))
    except ValueError:
        seconds = low
    return min(max(seconds, low), high) if math.isfinite(seconds) else low
