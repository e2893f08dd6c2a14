"""Start-up failures a person can act on.

A process that cannot start should say so in a line or two: which server, where, what went
wrong, what to do. Left alone, a down Redis shows as a redis-py traceback from whichever
component first touched it (often long after start), and an unmigrated PostgreSQL as "relation
vendors does not exist" from a query deep inside.

So ``Venta.start()`` proves each backend it was configured with right after starting it (the
database first: reachable, and its schema at the newest revision unless it migrates at start;
then Redis and NATS) and turns a failure into a ``StartupError``: ``str()`` is the cause on one
line, ``hint`` the fix, ``exit_code`` what the CLI exits with. ``BackendUnreachableError`` names
the URL (password masked), the host and port it tried, and the error, recognised across the
client libraries: connection refused, host name not found, no answer in time, authentication
failed. The CLI prints ``error: <cause>`` and ``hint: <fix>``; the traceback stays available
with ``venta --debug`` or ``VENTA_LOG__LEVEL=DEBUG``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from venta_core.lifecycle import Checkable, Component

__all__ = [
    "STARTUP_TIMEOUT_SECONDS",
    "Backend",
    "BackendUnreachableError",
    "StartupError",
    "explain",
    "start_proven",
]

#: How long a start-up check may wait for a backend to answer.
STARTUP_TIMEOUT_SECONDS = 10.0

_REFUSED = ("connection refused", "connect call failed")
_DNS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "getaddrinfo failed",
)
_AUTH_CLASSES = {
    "InvalidPasswordError",  # asyncpg
    "InvalidAuthorizationSpecificationError",  # asyncpg: unknown role
    "AuthenticationError",  # redis-py
    "AuthenticationWrongNumberOfArgsError",  # redis-py
    "AuthorizationError",  # nats-py
}
_AUTH_TEXT = (
    "authorization violation",
    "authentication failed",
    "invalid username-password",
    "noauth",
    "wrongpass",
    "must be called with the client already authenticated",
)


class StartupError(Exception):
    """A process cannot start: ``str()`` is the cause in one line, ``hint`` the fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Backend:
    """A server a process connects to: what people call it, its URL, the variable setting it."""

    name: str
    url: str
    variable: str
    default_port: int | None = None

    @classmethod
    def database(cls, url: str) -> Backend:
        if url.startswith("sqlite"):
            return cls("SQLite", url, "VENTA_DATABASE_URL")
        return cls("PostgreSQL", url, "VENTA_DATABASE_URL", 5432)

    @classmethod
    def redis(cls, url: str) -> Backend:
        return cls("Redis", url, "VENTA_REDIS_URL", 6379)

    @classmethod
    def nats(cls, url: str) -> Backend:
        return cls("NATS", url, "VENTA_NATS_URL", 4222)

    @property
    def shown(self) -> str:
        """The URL with its password masked."""
        from venta_core.observability.logging import redact

        return str(redact(self.url))

    @property
    def where(self) -> str:
        """``host:port`` of each server the URL names (the file of a SQLite URL)."""
        if self.default_port is None:  # SQLite: the file (a relative path after ":///")
            return self.url.partition(":///")[2].partition("?")[0] or self.url
        if self.url.startswith("unix:"):
            return urlsplit(self.url).path
        return ", ".join(
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in self.hosts()
        )

    def hosts(self) -> Iterator[tuple[str, int]]:
        for server in self.url.split(","):
            netloc = urlsplit(server.strip() if "://" in server else f"x://{server.strip()}")
            for node in netloc.netloc.rpartition("@")[2].split(","):
                host, port = _host_port(node)
                yield host, port or self.default_port or 0

    @property
    def passwords(self) -> list[str]:
        """Every password in the URL, as written and decoded (to mask them in error texts)."""
        found = [urlsplit(server.strip()).password for server in self.url.split(",")]
        return [form for p in found if p for form in {p, unquote(p)}]


def _host_port(node: str) -> tuple[str, int | None]:
    if node.startswith("["):  # [ipv6]:port
        host, _, rest = node[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = node.partition(":")
    return host, int(port) if port.isdigit() else None


class BackendUnreachableError(StartupError):
    """``backend`` could not be connected to, or did not answer a check."""

    def __init__(
        self, backend: Backend, error: BaseException, timeout: float | None = None
    ) -> None:
        reason, hint = explain(backend, error, timeout)
        for password in backend.passwords:
            reason = reason.replace(password, "***")
        super().__init__(
            f"cannot connect to {backend.name} at {backend.shown} ({backend.where}): {reason}",
            hint,
        )
        self.backend = backend


async def start_proven(component: Component, backend: Backend | None) -> None:
    """Start ``component``; when it stands for ``backend``, prove the backend answers its check
    within ``STARTUP_TIMEOUT_SECONDS``, or raise ``BackendUnreachableError``."""
    try:
        await component.start()
        if backend is not None and isinstance(component, Checkable):
            await asyncio.wait_for(component.check(), STARTUP_TIMEOUT_SECONDS)
    except Exception as exc:
        if backend is None:
            raise
        raise BackendUnreachableError(backend, exc, STARTUP_TIMEOUT_SECONDS) from exc


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, its causes and contexts, and the driver errors SQLAlchemy wraps (``orig``)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _is_auth(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & _AUTH_CLASSES) or any(t in str(error).lower() for t in _AUTH_TEXT)


def _is_refused(error: BaseException) -> bool:
    if isinstance(error, ConnectionRefusedError):
        return True
    if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
        return True
    return any(t in str(error).lower() for t in _REFUSED)


def _is_dns(error: BaseException) -> bool:
    return isinstance(error, socket.gaierror) or any(t in str(error).lower() for t in _DNS)


def _is_timeout(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or "TimeoutError" in {
        cls.__name__ for cls in type(error).__mro__
    }


def explain(
    backend: Backend, error: BaseException, timeout: float | None = None
) -> tuple[str, str]:
    """The reason ``error`` stopped the connection to ``backend``, and the fix."""
    chain = list(_chain(error))
    var = backend.variable
    if any(_is_auth(e) for e in chain):
        detail = _first_line(next(e for e in chain if _is_auth(e)))
        return f"authentication failed ({detail})", f"check the user name and password in {var}"
    missing = [e for e in chain if type(e).__name__ == "InvalidCatalogNameError"]
    if missing:  # asyncpg: the database does not exist
        return _first_line(missing[0]), f"create the database, or fix its name in {var}"
    if any(_is_dns(e) for e in chain):
        hosts = ", ".join(sorted({host for host, _ in backend.hosts()}))
        return (
            f"host name not found ({hosts})",
            f"check the host name in {var}, and that this machine can resolve it",
        )
    if any(_is_refused(e) for e in chain):
        return (
            "connection refused",
            f"is {backend.name} running and listening on {backend.where}? Start it, or set "
            f"{var} to where it runs",
        )
    if any(_is_timeout(e) for e in chain):
        waited = f"no answer within {timeout:g} s" if timeout else "timed out"
        return (
            waited,
            f"check that {backend.where} is reachable from here (host, port, firewall) and "
            f"speaks the {backend.name} protocol",
        )
    return _first_line(error), f"check {var}"
