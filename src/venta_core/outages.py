"""Backends that can go down, and the one place where their outages become ``ServiceUnavailable``.

Every adapter of a backend (the Redis connection, the database) owns one ``Dependency`` and runs
each call to the backend inside ``dependency.guard()``. The guard lets everything through except
errors that mean the backend cannot be reached (the adapter's ``unavailable`` predicate decides:
a refused connection, a timeout, a server restarting or failing over), which it turns into the
domain's ``ServiceUnavailable``: HTTP answers it ``503 SERVICE_UNAVAILABLE``, gRPC
``UNAVAILABLE``, the real-time gateway an ``error`` event. Services and transports never see a
driver's exception type, so they cannot disagree about what an outage is.

The dependency also remembers whether the backend was last seen up, so an outage is logged once
and not once per request: the first failure after success logs one WARNING (naming the backend,
never its credentials), the first success after failures one INFO. Before the backend was ever
reached there is no outage to announce: a process proves each backend as it starts, and a
backend it cannot reach then ends the start with one error line of its own (``startup.py``).
Loops that retry on their own (write-behind, presence, relays) catch ``ServiceUnavailable`` and
stay quiet: the dependency has said it already. Listeners registered with ``on_recovery`` are
called when the backend is back (the geo index checks then whether it came back empty).

Recovery needs no probe of its own: the next call that succeeds marks the backend up, and
processes call their backends all the time (readiness checks, write-behind flushes, the geo
index's refill check).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from venta_core.errors import ServiceUnavailable, VentaError

__all__ = ["Dependency"]

log = logging.getLogger(__name__)

#: What ``ServiceUnavailable`` tells a client; the cause stays in the server's log.
_MESSAGE = "A service this request needs is temporarily unavailable; try again shortly"


class Dependency:
    """One backend's availability as this process sees it (see the module docstring)."""

    def __init__(
        self, name: str, unavailable: Callable[[BaseException], bool], *, shown: str = ""
    ) -> None:
        """``name``: what logs and error details call the backend ("redis", "database").
        ``unavailable``: whether an exception means the backend cannot be reached.
        ``shown``: where it is, for the log (a URL with its password hidden)."""
        self.name = name
        #: False until the backend was first reached, and during an outage.
        self.available = False
        self._reached = False
        #: Outages seen since the process started.
        self.outages = 0
        self._unavailable = unavailable
        self._shown = shown
        self._down_since = 0.0
        self._listeners: list[Callable[[], object]] = []
        self._guard = _Guard(self)

    def __repr__(self) -> str:
        state = "available" if self.available else "unavailable" if self._reached else "unseen"
        return f"Dependency({self.name!r}, {state})"

    def guard(self, unavailable: Callable[[BaseException], bool] | None = None) -> _Guard:
        """``with dependency.guard(): await call()``: an outage raises ``ServiceUnavailable``;
        success after an outage marks the backend available again. ``unavailable`` replaces
        the dependency's predicate for this guard (a narrower one, for code that does more
        than call the backend)."""
        return self._guard if unavailable is None else _Guard(self, unavailable)

    def is_unavailable(
        self, exc: BaseException, unavailable: Callable[[BaseException], bool] | None = None
    ) -> bool:
        """Whether ``exc`` means the backend cannot be reached (already translated included)."""
        predicate = unavailable or self._unavailable
        return isinstance(exc, ServiceUnavailable) or (
            not isinstance(exc, VentaError) and predicate(exc)
        )

    def failed(self, exc: BaseException) -> ServiceUnavailable:
        """Record that a call could not reach the backend (one WARNING per outage, none before
        it was ever reached) and return the error to raise."""
        if self.available:
            self.available = False
            self.outages += 1
            self._down_since = time.monotonic()
            where = f" at {self._shown}" if self._shown else ""
            log.warning(
                "%s%s is unavailable (%s: %s); what needs it answers %s until it returns",
                self.name, where, type(exc).__name__, exc, ServiceUnavailable.code,
            )  # fmt: skip
        return ServiceUnavailable(_MESSAGE, details={"dependency": self.name})

    def succeeded(self) -> None:
        """Record a call that reached the backend (one INFO when that ends an outage)."""
        if self.available:
            return
        self.available = True
        if not self._reached:  # the first contact: nothing was down
            self._reached = True
            return
        log.info(
            "%s is available again after %.1f s", self.name, time.monotonic() - self._down_since
        )
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("a recovery listener of %s failed", self.name)

    def on_recovery(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` (synchronously; it should only schedule work) whenever the backend
        is available again after an outage."""
        self._listeners.append(listener)


class _Guard:
    """The context manager of ``Dependency.guard`` (reusable: it holds no state of a call)."""

    __slots__ = ("_dependency", "_unavailable")

    def __init__(
        self, dependency: Dependency, unavailable: Callable[[BaseException], bool] | None = None
    ) -> None:
        self._dependency = dependency
        self._unavailable = unavailable

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        dependency = self._dependency
        if exc is None:
            if not dependency.available:
                dependency.succeeded()
            return False
        if isinstance(exc, Exception) and dependency.is_unavailable(exc, self._unavailable):
            if isinstance(exc, ServiceUnavailable):
                return False  # translated by an inner guard already
            raise dependency.failed(exc) from exc
        return False
