"""VentaError <-> gRPC status and trailers, without a server."""

from __future__ import annotations

import json
from typing import Any

import grpc.aio
import pytest

from venta_core.errors import (
    ERROR_TABLE,
    AccountDeleted,
    Conflict,
    Forbidden,
    InternalError,
    LocationNotFound,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    UserNotFound,
    ValidationFailed,
    VendorNotFound,
    VentaError,
)
from venta_core.transports.grpc.errors import (
    CODE_KEY,
    DETAILS_KEY,
    MESSAGE_KEY,
    error_from_rpc,
    status_of,
    venta_trailers,
)


def _rpc_error(
    code: grpc.StatusCode, details: str = "", trailers: tuple[tuple[str, Any], ...] = ()
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details=details
    )


def _over_the_wire(error: VentaError) -> VentaError:
    return error_from_rpc(
        _rpc_error(status_of(error), error.message, venta_trailers(error)), "vendor"
    )


def test_every_table_code_has_a_grpc_status() -> None:
    for code, spec in ERROR_TABLE.items():
        assert hasattr(grpc.StatusCode, spec.grpc_status), code


@pytest.mark.parametrize(
    "error",
    [
        VendorNotFound("6f1c1f3e-8b52-4a53-9a57-0f6e0c7a0001"),
        UserNotFound("u-1"),
        LocationNotFound("v-1"),
        Forbidden("Only the owner ✓", details={"vendorId": "v"}),
        ValidationFailed("limit must be between 1 and 1000", details={"field": "limit"}),
        Conflict(),
        RateLimited(7),
        Unauthenticated(),
        AccountDeleted(),
        ServiceUnavailable(),
        InternalError(),
        NotFound("plain"),
        VentaError("custom", code="METHOD_NOT_ALLOWED"),
    ],
)
def test_errors_come_back_as_the_same_class_code_message_and_details(error: VentaError) -> None:
    back = _over_the_wire(error)
    assert type(back) is type(error)
    assert (back.code, back.message, back.details) == (error.code, error.message, error.details)


def test_trailers_carry_code_message_and_json_details() -> None:
    trailers = dict(venta_trailers(VendorNotFound("v-ü")))
    assert trailers[CODE_KEY] == "VENDOR_NOT_FOUND"
    assert trailers[MESSAGE_KEY].decode() == 'Vendor with ID "v-ü" not found'
    assert json.loads(trailers[DETAILS_KEY]) == {"vendorId": "v-ü"}
    assert status_of(VendorNotFound("x")) is grpc.StatusCode.NOT_FOUND
    assert status_of(RateLimited(1)) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_rate_limited_keeps_retry_after() -> None:
    back = _over_the_wire(RateLimited(42))
    assert isinstance(back, RateLimited) and back.retry_after == 42


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, ServiceUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, ServiceUnavailable),
        # a stopping server's gRPC cancels calls it accepted but never ran: 503, never 500
        (grpc.StatusCode.CANCELLED, ServiceUnavailable),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, Forbidden),
        (grpc.StatusCode.INVALID_ARGUMENT, ValidationFailed),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.INTERNAL, InternalError),
        (grpc.StatusCode.UNKNOWN, InternalError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, InternalError),
    ],
)
def test_statuses_without_venta_trailers(status: grpc.StatusCode, expected: type) -> None:
    error = error_from_rpc(_rpc_error(status, "connection refused"), "vendor")
    assert type(error) is expected
    assert error.details["service"] == "vendor"
    assert error.details["grpcStatus"] == status.name


def test_garbage_details_trailer_is_ignored() -> None:
    trailers = ((CODE_KEY, "FORBIDDEN"), (DETAILS_KEY, b"\xff not json"))
    error = error_from_rpc(_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "no", trailers), "x")
    assert isinstance(error, Forbidden) and error.details == {} and error.message == "no"
