"""Channels and the call path shared by the gRPC clients.

One ``grpc.aio`` channel per address (HTTP/2 multiplexes every call over it), created lazily
inside the running event loop, with keepalive and reconnect options from ``GrpcSettings``, TLS
credentials when ``tls_ca_file`` is set, and the identity interceptor. A channel balances round
robin over the servers its address resolves to and watches each one's standard health service
(``healthCheckConfig``): a server that turns NOT_SERVING (it is stopping, see ``drain``) gets no
new calls while the others do.

``RpcCaller`` makes one logical call: a deadline that covers the retries, and retries with
exponential backoff and full jitter on a transport-level ``UNAVAILABLE`` or ``CANCELLED`` (no
venta trailers: the peer is down, restarting or stopping), for idempotent calls only. Any other
failure is raised at once as the ``VentaError`` it stands for. Each logical call is counted and
timed in the pool's ``GrpcClientMetrics`` (final status code, retries included); a process
exposes them by registering ``ChannelPool.metrics`` in the registry of its ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc.aio

from venta_core.context import RequestContext, current, new_request_id, request_context
from venta_core.domain import Actor
from venta_core.errors import InternalError, ServiceUnavailable, ValidationFailed, VentaError
from venta_core.observability.grpc_metrics import GrpcClientMetrics
from venta_core.transports.grpc.errors import error_from_rpc, is_retryable
from venta_core.transports.grpc.metadata import (
    IdentityClientInterceptor,
    IdentitySigner,
    acting_as,
)
from venta_core.transports.grpc.settings import GrpcSettings
from venta_core.transports.grpc.tracing import client_interceptors

__all__ = ["SERVICE_CONFIG", "ChannelPool", "RpcCaller", "channel_options", "signer_from"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def signer_from(settings: GrpcSettings) -> IdentitySigner:
    return IdentitySigner(
        settings.secret_bytes,
        also_accepted=settings.accepted_secret_bytes,
        ttl_seconds=settings.identity_ttl_seconds,
        skew_seconds=settings.clock_skew_seconds,
    )


#: Client-side health checking: each server's overall health (``""``) is watched, and one that
#: is NOT_SERVING gets no calls. A server without the health service counts as healthy.
SERVICE_CONFIG = json.dumps({"healthCheckConfig": {"serviceName": ""}})


def channel_options(settings: GrpcSettings) -> list[tuple[str, int | str]]:
    reconnect_ms = int(settings.reconnect_max_backoff_seconds * 1000)
    return [
        # An address resolving to several servers (dns:///vendor:5005 on a headless Service)
        # spreads calls over all of them; a single address behaves as before.
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.keepalive_time_ms", int(settings.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", min(1000, reconnect_ms)),
        ("grpc.min_reconnect_backoff_ms", min(1000, reconnect_ms)),
        ("grpc.max_reconnect_backoff_ms", reconnect_ms),
    ]


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


class _CallFailed(Exception):
    """Internal: a failed call's status code name and the ``VentaError`` to raise."""

    def __init__(self, code: str, error: VentaError) -> None:
        super().__init__(code)
        self.code = code
        self.error = error


class ChannelPool:
    """One channel per address; ``close()`` closes them all."""

    def __init__(self, settings: GrpcSettings, *, interceptors: Sequence[Any] = ()) -> None:
        self.settings = settings
        self._interceptors = [
            *client_interceptors(),
            IdentityClientInterceptor(signer_from(settings)),
            *interceptors,
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.metrics = GrpcClientMetrics()

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._open(address)
            self._channels[address] = channel
        return channel

    def _open(self, address: str) -> grpc.aio.Channel:
        options = channel_options(self.settings)
        s = self.settings
        if s.tls_ca_file is None:
            return grpc.aio.insecure_channel(
                address, options=options, interceptors=self._interceptors
            )
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(s.tls_ca_file),
            private_key=_read(s.tls_key_file),
            certificate_chain=_read(s.tls_cert_file),
        )
        return grpc.aio.secure_channel(
            address, credentials, options=options, interceptors=self._interceptors
        )

    async def close(self, grace: float | None = None) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            try:
                await channel.close(grace)
            except Exception:  # closing must never fail a shutdown
                log.warning("closing a gRPC channel failed", exc_info=True)


class RpcCaller:
    """Calls the methods of one service at one address (see the module docstring)."""

    def __init__(
        self,
        pool: ChannelPool,
        address: str,
        service: str,
        stub_factory: Callable[[grpc.aio.Channel], Any],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self.address = address
        self.service = service
        self._stub_factory = stub_factory
        self._stub: Any = None
        self._sleep = sleep
        self._full_service = f"venta.v1.{service.capitalize()}Service"

    def _backoff(self, attempt: int) -> float:
        s = self._pool.settings
        bound = s.retry_initial_backoff_seconds * s.retry_backoff_multiplier ** (attempt - 1)
        return random.uniform(0, min(bound, s.retry_max_backoff_seconds))  # noqa: S311 - jitter

    def _method(self, name: str) -> Callable[..., Awaitable[Any]]:
        if self._stub is None:
            self._stub = self._stub_factory(self._pool.channel(self.address))
        method: Callable[..., Awaitable[Any]] = getattr(self._stub, name)
        return method

    async def __call__(
        self,
        name: str,
        build: Callable[[], Any],
        decode: Callable[[Any], T],
        *,
        idempotent: bool,
        actor: Actor | None = None,
    ) -> T:
        """Call RPC ``name`` with the request ``build()`` returns and ``decode`` the reply."""
        try:
            request = build()
        except (ValueError, TypeError) as exc:  # out-of-range numbers, unencodable text
            raise ValidationFailed(f"cannot encode the request: {exc}") from None
        ctx = current() or RequestContext(request_id=new_request_id())
        code = "UNKNOWN"
        started = time.perf_counter()
        try:
            with request_context(ctx), acting_as(actor):
                reply = await self._with_retries(name, request, idempotent)
            code = "OK"
        except _CallFailed as failed:
            code = failed.code
            raise failed.error from failed.__cause__
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        finally:
            seconds = time.perf_counter() - started
            self._pool.metrics.observe(self._full_service, name, code, seconds)
        try:
            return decode(reply)
        except VentaError as exc:
            log.error("malformed %s reply from %s: %s", name, self.address, exc)
            raise InternalError(f"The {self.service} service sent a malformed reply") from None

    async def _with_retries(self, name: str, request: Any, idempotent: bool) -> Any:
        settings = self._pool.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.deadline_seconds
        attempts = settings.retry_max_attempts if idempotent else 1
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            try:
                return await self._method(name)(request, timeout=max(remaining, 0.001))
            except grpc.aio.AioRpcError as exc:
                delay = self._backoff(attempt)
                if not (
                    attempt < attempts and is_retryable(exc) and loop.time() + delay < deadline
                ):
                    raise _CallFailed(exc.code().name, error_from_rpc(exc, self.service)) from None
                self._pool.metrics.retried(self._full_service, name)
                log.info(
                    "%s.%s unavailable at %s (attempt %d of %d), retrying in %.2fs",
                    *(self.service, name, self.address, attempt, attempts, delay),
                )
            except grpc.aio.UsageError as exc:  # the channel was closed under us
                closed = ServiceUnavailable(
                    f"The {self.service} service client is closed",
                    details={"service": self.service},
                )
                raise _CallFailed("UNAVAILABLE", closed) from exc
            await self._sleep(delay)
