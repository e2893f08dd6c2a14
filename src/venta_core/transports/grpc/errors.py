"""``VentaError`` <-> gRPC status and trailing metadata.

A server answers a ``VentaError`` with the status named in ``ERROR_TABLE`` and three trailers:

* ``venta-error-code``: the stable code (ASCII, readable in grpcurl and proxies' logs);
* ``venta-error-message-bin``: the message as UTF-8 (the status message is the same text, but
  some stacks mangle non-ASCII status messages, so the trailer is the exact copy);
* ``venta-error-details-bin``: the details as a UTF-8 JSON object.

Any other exception becomes ``INTERNAL`` with a generic message; its traceback is logged on the
server and never sent. A client rebuilds the same error class from the trailers, so a
``VENDOR_NOT_FOUND`` raised in the vendor process reaches the caller as ``VendorNotFound``.
A status without venta trailers comes from gRPC itself (the peer is down, the deadline passed,
a proxy refused): ``UNAVAILABLE``, ``CANCELLED`` and ``DEADLINE_EXCEEDED`` become
``ServiceUnavailable``. ``CANCELLED`` is one of them because a client never sees its own
cancellation as a status (the awaiting task is cancelled instead): a ``CANCELLED`` status means
the server or a proxy dropped the call, typically while stopping.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc.aio

from venta_core.errors import (
    Forbidden,
    InternalError,
    LocationNotFound,
    NotFound,
    ServiceUnavailable,
    Unauthenticated,
    UserNotFound,
    ValidationFailed,
    VendorNotFound,
    VentaError,
    error_from_code,
)

__all__ = [
    "CODE_KEY",
    "DETAILS_KEY",
    "MESSAGE_KEY",
    "abort_with",
    "error_from_rpc",
    "is_retryable",
    "is_transport_failure",
    "rebuild_error",
    "status_of",
    "translate_errors",
    "venta_trailers",
]

log = logging.getLogger(__name__)

CODE_KEY = "venta-error-code"
MESSAGE_KEY = "venta-error-message-bin"
DETAILS_KEY = "venta-error-details-bin"

#: Errors whose constructor builds the message from an id: rebuilt without calling it.
_ID_ERRORS: dict[str, type[VentaError]] = {
    cls.code: cls for cls in (VendorNotFound, UserNotFound, LocationNotFound)
}

#: Fallback for statuses that carry no venta trailers.
_BY_STATUS: dict[grpc.StatusCode, type[VentaError]] = {
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
    grpc.StatusCode.CANCELLED: ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: ServiceUnavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.INVALID_ARGUMENT: ValidationFailed,
    grpc.StatusCode.NOT_FOUND: NotFound,
}

R = TypeVar("R")
S = TypeVar("S")
Q = TypeVar("Q")


def status_of(error: VentaError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.spec.grpc_status, grpc.StatusCode.INTERNAL)


def venta_trailers(error: VentaError) -> tuple[tuple[str, str | bytes], ...]:
    details = json.dumps(error.details, default=str, ensure_ascii=False, separators=(",", ":"))
    return (
        (CODE_KEY, error.code),
        (MESSAGE_KEY, error.message.encode("utf-8")),
        (DETAILS_KEY, details.encode("utf-8")),
    )


async def abort_with(context: grpc.aio.ServicerContext, error: VentaError) -> NoReturn:
    """End the call with ``error``'s status and venta trailers."""
    await context.abort(status_of(error), error.message, trailing_metadata=venta_trailers(error))
    raise AssertionError("ServicerContext.abort returned")  # pragma: no cover


def translate_errors(
    handler: Callable[[S, Q, grpc.aio.ServicerContext], Awaitable[R]],
) -> Callable[[S, Q, grpc.aio.ServicerContext], Awaitable[R]]:
    """Servicer method decorator: ``VentaError`` -> its status; anything else -> INTERNAL."""

    @functools.wraps(handler)
    async def wrapper(self: S, request: Q, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except VentaError as exc:
            error: VentaError = exc
        except grpc.aio.AbortError:
            raise  # the handler ended the call itself
        except Exception:
            log.exception("unexpected error in gRPC method %s", handler.__qualname__)
            error = InternalError()
        await abort_with(context, error)

    return wrapper


def rebuild_error(code: str, message: str, details: dict[str, Any]) -> VentaError:
    """The error a remote process raised, as the same class where venta knows it."""
    cls = _ID_ERRORS.get(code)
    if cls is None:
        return error_from_code(code, message, details)
    error = cls.__new__(cls)
    VentaError.__init__(error, message, details=details)
    return error


def _trailers(exc: grpc.aio.AioRpcError) -> dict[str, str | bytes]:
    try:
        return dict(exc.trailing_metadata() or ())
    except Exception:  # pragma: no cover - defensive: odd metadata from a proxy
        return {}


def _text(value: str | bytes | None, default: str) -> str:
    if value is None:
        return default
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _details(raw: str | bytes | None) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def is_transport_failure(exc: grpc.aio.AioRpcError) -> bool:
    """True when the status came from gRPC, not from a venta service (no venta trailers)."""
    return CODE_KEY not in _trailers(exc)


#: Transport statuses after which an idempotent call may be tried again: the peer is down,
#: restarting or stopping (a stopping venta server answers UNAVAILABLE; gRPC itself may answer
#: CANCELLED to calls it accepted but never ran).
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


def is_retryable(exc: grpc.aio.AioRpcError) -> bool:
    """True when an idempotent call that failed with ``exc`` may be tried again."""
    return exc.code() in _RETRYABLE and is_transport_failure(exc)


def error_from_rpc(exc: grpc.aio.AioRpcError, service: str) -> VentaError:
    """The ``VentaError`` a failed call stands for."""
    trailers = _trailers(exc)
    code = trailers.get(CODE_KEY)
    message = _text(trailers.get(MESSAGE_KEY), exc.details() or "")
    if code is not None:
        return rebuild_error(_text(code, "INTERNAL"), message, _details(trailers.get(DETAILS_KEY)))
    status = exc.code()
    cls = _BY_STATUS.get(status, InternalError)
    grpc_details = {"service": service, "grpcStatus": getattr(status, "name", str(status))}
    if cls is ServiceUnavailable:
        return ServiceUnavailable(
            f"The {service} service is unavailable ({grpc_details['grpcStatus']})",
            details=grpc_details,
        )
    if cls is InternalError:
        return InternalError(f"The {service} service failed", details=grpc_details)
    return cls(exc.details() or None, details=grpc_details)
