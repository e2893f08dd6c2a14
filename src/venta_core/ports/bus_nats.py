"""Event bus on core NATS (nats-py). JetStream, for durable events, builds on ``nc``.

``url`` may list several servers separated by commas. Credentials in it are never logged. Once
connected the client reconnects forever; the first connection must succeed within
``CONNECT_TIMEOUT_S`` or ``start()`` raises ``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.errors import BadSubjectError
from nats.errors import Error as NatsError

from venta_core.ports.bus import BusMessage, Handler, Subscription
from venta_core.ports.bus_memory import validate_subject
from venta_core.ports.redis_conn import redact_url

__all__ = ["NatsEventBus"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
FLUSH_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 10.0


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
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=self._servers,
                    name="venta",
                    connect_timeout=int(CONNECT_TIMEOUT_S),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
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
        if self._connected:
            logger.warning("NATS error at %s: %s", self._shown, exc)

    async def _on_disconnected(self) -> None:
        if self._connected:
            logger.warning("NATS at %s disconnected; reconnecting", self._shown)

    async def _on_reconnected(self) -> None:
        logger.info("NATS at %s reconnected", self._shown)


async def _close_quietly(nc: Client) -> None:
    try:
        await nc.close()
    except Exception:
        logger.debug("closing a NATS client failed", exc_info=True)
