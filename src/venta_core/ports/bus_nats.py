"""Event bus on core NATS (nats-py). JetStream, for durable events, builds on ``nc``.

``url`` may list several servers separated by commas. Credentials in it are never logged. Once
connected the client reconnects forever; the first connection must succeed within
``CONNECT_TIMEOUT_S`` or ``start()`` raises ``ConnectionError``.

Outages: losing the server logs one WARNING and getting it back one INFO (the bus's
``Dependency``, ``venta_core.outages``); the failed reconnection attempts in between are only
logged at DEBUG. While reconnecting, ``publish`` buffers messages (nats-py's pending buffer,
``PENDING_BYTES``) and sends them once connected; when the buffer is full or the client closed,
it raises ``ServiceUnavailable``, so a caller may decide that a lost message is acceptable (the
location service does, for live positions: see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from nats import errors as nats_errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.errors import BadSubjectError
from nats.errors import Error as NatsError

from venta_core.outages import Dependency
from venta_core.ports.bus import BusMessage, Handler, Subscription
from venta_core.ports.bus_memory import validate_subject
from venta_core.ports.nats_client import MeteredClient
from venta_core.ports.redis_conn import redact_url

__all__ = ["NatsEventBus", "nats_unavailable"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
FLUSH_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 10.0
#: Bytes of messages kept while reconnecting (nats-py's default): about 10,000 live positions.
PENDING_BYTES = 2 * 1024 * 1024

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    nats_errors.ConnectionClosedError,
    nats_errors.ConnectionDrainingError,
    nats_errors.ConnectionReconnectingError,
    nats_errors.OutboundBufferLimitError,
    nats_errors.StaleConnectionError,
    nats_errors.NoServersError,
    nats_errors.TimeoutError,
    OSError,
    TimeoutError,
)


def nats_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by nats-py) means the server cannot be reached."""
    return isinstance(exc, _UNAVAILABLE)


class _NatsSubscription:
    def __init__(self, sub: NatsSubscription) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        try:
            await self._sub.unsubscribe()
        except Exception:  # already gone with its connection: nothing left to stop
            logger.debug("unsubscribe from %r failed", self._sub.subject, exc_info=True)


class NatsEventBus:
    """``EventBus`` on core NATS (see the module docstring)."""

    def __init__(self, url: str, *, name: str = "nats") -> None:
        self.name = name
        self._servers = [u.strip() for u in url.split(",") if u.strip()]
        self._shown = ",".join(redact_url(u) for u in self._servers)
        self._nc: Client | None = None
        self._connected = False  # quiet while the first connection is tried or while stopping
        self._last_error: Exception | None = None
        #: An authorization error while connecting: the reason to report, though the retries
        #: that follow it end in other errors (the server closes the connection).
        self._refusal: Exception | None = None
        self.dependency = Dependency("nats", nats_unavailable, shown=self._shown)

    def __repr__(self) -> str:
        return f"NatsEventBus({self._shown!r})"

    @property
    def nc(self) -> Client:
        """The connected nats-py client (for JetStream)."""
        if self._nc is None:
            raise RuntimeError("NatsEventBus is not started")
        return self._nc

    async def start(self) -> None:
        if self._nc is not None:
            return
        nc = MeteredClient()  # publishes and requests counted, JetStream's included
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=self._servers,
                    name="venta",
                    connect_timeout=int(CONNECT_TIMEOUT_S),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    pending_size=PENDING_BYTES,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                timeout=CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError, NatsError) as exc:
            await _close_quietly(nc)
            reason = self._refusal or self._last_error or exc
            detail = str(reason) or type(reason).__name__
            raise ConnectionError(
                f"cannot connect to NATS at {self._shown} within {CONNECT_TIMEOUT_S:g} s: {detail}"
            ) from reason
        self._nc = nc
        self._connected = True
        self.dependency.succeeded()  # reached: a disconnection from now on is an outage

    async def stop(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None:
            return
        self._connected = False
        try:
            await asyncio.wait_for(nc.drain(), timeout=DRAIN_TIMEOUT_S)
        except Exception:
            logger.warning("draining NATS at %s failed; closing", self._shown, exc_info=True)
        await _close_quietly(nc)

    async def check(self) -> None:
        nc = self.nc
        if not nc.is_connected:
            raise ConnectionError(f"NATS at {self._shown} is not connected")
        await nc.flush(timeout=int(FLUSH_TIMEOUT_S))

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        validate_subject(subject, pattern=False)
        try:
            await self.nc.publish(subject, data, headers=dict(headers) if headers else None)
        except BadSubjectError:
            raise ValueError(f"invalid subject {subject!r}") from None
        except Exception as exc:
            # Not Dependency.guard(): a publish buffered while reconnecting succeeds without
            # the server, so only the connection's callbacks say when NATS is back.
            if nats_unavailable(exc):
                raise self.dependency.failed(exc) from exc
            raise

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        validate_subject(subject, pattern=True)

        async def deliver(msg: Msg) -> None:
            try:
                await handler(BusMessage(msg.subject, msg.data, msg.headers or {}))
            except Exception:
                logger.exception("handler of %r failed on %r", subject, msg.subject)

        sub = await self.nc.subscribe(subject, queue=queue or "", cb=deliver)
        return _NatsSubscription(sub)

    async def flush(self) -> None:
        await self.nc.flush(timeout=int(FLUSH_TIMEOUT_S))

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = exc
        if not self._connected and "authorization" in str(exc).lower():
            self._refusal = self._refusal or exc
        if not self._connected:
            return
        if not self.dependency.available or nats_unavailable(exc):
            # A failed reconnection attempt (one a second): the outage is logged once.
            logger.debug("NATS error at %s while reconnecting: %s", self._shown, exc)
            return
        logger.warning("NATS error at %s: %s", self._shown, exc)

    async def _on_disconnected(self) -> None:
        if self._connected:
            self.dependency.failed(ConnectionError("disconnected; reconnecting"))

    async def _on_reconnected(self) -> None:
        self.dependency.succeeded()


async def _close_quietly(nc: Client) -> None:
    try:
        await nc.close()
    except Exception:
        logger.debug("closing a NATS client failed", exc_info=True)
