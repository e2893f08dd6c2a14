"""The nats-py ``Client`` with its publishes and requests counted
(``venta_core.observability.client_metrics``).

Every message the connection sends goes through ``publish`` and every request-reply through
``request``, JetStream's included (its publishes, API calls, fetches and acknowledgements), so
metering the connection covers the bus and the event stream without touching either. Labels
are bounded: the subject only picks a kind (``ack``, ``api``, ``message``).
"""

from __future__ import annotations

import time
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from venta_core.observability.client_metrics import CLIENT_METRICS, error_label

__all__ = ["MeteredClient", "subject_kind"]


def subject_kind(subject: str) -> str:
    """``ack`` for JetStream acknowledgements, ``api`` for the JetStream API (fetches, stream
    and consumer calls), ``message`` for everything else (events, positions)."""
    if subject.startswith("$JS.ACK."):
        return "ack"
    if subject.startswith("$JS."):
        return "api"
    return "message"


class MeteredClient(Client):
    """``Client`` counting what it publishes and timing its requests."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            await super().publish(subject, payload, reply=reply, headers=headers)
        except Exception as exc:
            CLIENT_METRICS.nats_errors.labels("publish", error_label(exc)).inc()
            raise
        CLIENT_METRICS.nats_publish(subject_kind(subject))

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 0.5,  # noqa: ASYNC109 - the signature of nats-py's request
        old_style: bool = False,
        headers: dict[str, Any] | None = None,
    ) -> Msg:
        start = time.perf_counter()
        try:
            return await super().request(
                subject, payload, timeout=timeout, old_style=old_style, headers=headers
            )
        except Exception as exc:
            CLIENT_METRICS.nats_errors.labels("request", error_label(exc)).inc()
            raise
        finally:
            elapsed = time.perf_counter() - start
            CLIENT_METRICS.nats_requests.labels(subject_kind(subject)).observe(elapsed)
