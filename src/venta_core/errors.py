"""The error vocabulary shared by every transport.

One table (``ERROR_TABLE``) maps each stable code to its HTTP status and gRPC status name, so the
HTTP handlers, the gRPC interceptors and the real-time gateway all answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "ERROR_TABLE",
    "AccountDeleted",
    "Conflict",
    "ErrorSpec",
    "Forbidden",
    "HeadersTooLarge",
    "InternalError",
    "InvalidSignature",
    "LocationNotFound",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
    "UserNotFound",
    "ValidationFailed",
    "VendorNotFound",
    "VentaError",
    "error_from_code",
]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    http_status: int
    grpc_status: str  # name of a grpc.StatusCode member; kept as text so core never imports grpc


ERROR_TABLE: dict[str, ErrorSpec] = {
    "VALIDATION_ERROR": ErrorSpec(400, "INVALID_ARGUMENT"),
    "UNAUTHENTICATED": ErrorSpec(401, "UNAUTHENTICATED"),
    "INVALID_SIGNATURE": ErrorSpec(401, "UNAUTHENTICATED"),
    "FORBIDDEN": ErrorSpec(403, "PERMISSION_DENIED"),
    "NOT_FOUND": ErrorSpec(404, "NOT_FOUND"),
    "VENDOR_NOT_FOUND": ErrorSpec(404, "NOT_FOUND"),
    "USER_NOT_FOUND": ErrorSpec(404, "NOT_FOUND"),
    "LOCATION_NOT_FOUND": ErrorSpec(404, "NOT_FOUND"),
    "METHOD_NOT_ALLOWED": ErrorSpec(405, "UNIMPLEMENTED"),
    "CONFLICT": ErrorSpec(409, "ALREADY_EXISTS"),
    "PAYLOAD_TOO_LARGE": ErrorSpec(413, "INVALID_ARGUMENT"),
    "UNSUPPORTED_MEDIA_TYPE": ErrorSpec(415, "INVALID_ARGUMENT"),
    "HEADERS_TOO_LARGE": ErrorSpec(431, "INVALID_ARGUMENT"),
    "RATE_LIMITED": ErrorSpec(429, "RESOURCE_EXHAUSTED"),
    "INTERNAL": ErrorSpec(500, "INTERNAL"),
    "SERVICE_UNAVAILABLE": ErrorSpec(503, "UNAVAILABLE"),
}


class VentaError(Exception):
    """Base of every error a service raises. ``code`` is stable; ``message`` is for humans."""

    code: ClassVar[str] = "INTERNAL"
    default_message: ClassVar[str] = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details or {}
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override for codes without a class
        super().__init__(self.message)

    @property
    def spec(self) -> ErrorSpec:
        return ERROR_TABLE.get(self.code, ERROR_TABLE["INTERNAL"])

    @property
    def http_status(self) -> int:
        return self.spec.http_status

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationFailed(VentaError):
    code = "VALIDATION_ERROR"
    default_message = "Request validation failed"


class Unauthenticated(VentaError):
    code = "UNAUTHENTICATED"
    default_message = "Authentication required"


class AccountDeleted(Unauthenticated):
    """The identity is valid but its account was deleted (a tombstone): no user is created for
    it again. ``401 UNAUTHENTICATED`` like any refused identity; ``details.reason`` tells it
    apart (and lets a caller in another process rebuild this class)."""

    reason: ClassVar[str] = "account deleted"
    default_message = "This account was deleted"

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        super().__init__(message, details={**(details or {}), "reason": self.reason})


class InvalidSignature(VentaError):
    code = "INVALID_SIGNATURE"
    default_message = "Signature verification failed"


class Forbidden(VentaError):
    code = "FORBIDDEN"
    default_message = "Not allowed"


class NotFound(VentaError):
    code = "NOT_FOUND"
    default_message = "Not found"


class VendorNotFound(NotFound):
    code = "VENDOR_NOT_FOUND"

    def __init__(self, vendor_id: str) -> None:
        super().__init__(f'Vendor with ID "{vendor_id}" not found', details={"vendorId": vendor_id})


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"

    def __init__(self, user_id: str) -> None:
        super().__init__(f'User with ID "{user_id}" not found', details={"userId": user_id})


class LocationNotFound(NotFound):
    code = "LOCATION_NOT_FOUND"

    def __init__(self, vendor_id: str) -> None:
        super().__init__(
            f'No known location for vendor "{vendor_id}"', details={"vendorId": vendor_id}
        )


class Conflict(VentaError):
    code = "CONFLICT"
    default_message = "Conflict with the current state"


class PayloadTooLarge(VentaError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Request body too large"


class UnsupportedMediaType(VentaError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Unsupported media type"


class HeadersTooLarge(VentaError):
    """The request head is over ``http.max_header_bytes`` or ``http.max_headers``."""

    code = "HEADERS_TOO_LARGE"
    default_message = "Request header fields too large"


class RateLimited(VentaError):
    code = "RATE_LIMITED"
    default_message = "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, details={"retryAfter": self.retry_after})


class ServiceUnavailable(VentaError):
    code = "SERVICE_UNAVAILABLE"
    default_message = "A service this request needs is unavailable"


class InternalError(VentaError):
    code = "INTERNAL"
    default_message = "Internal error"


_BY_CODE: dict[str, type[VentaError]] = {
    cls.code: cls
    for cls in (
        ValidationFailed,
        Unauthenticated,
        InvalidSignature,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        HeadersTooLarge,
        ServiceUnavailable,
        InternalError,
    )
}


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> VentaError:
    """Rebuild an error received from another process (gRPC trailer, event) by its code."""
    details = details or {}
    if code == "RATE_LIMITED":
        return RateLimited(int(details.get("retryAfter", 1)), message)
    if code == AccountDeleted.code and details.get("reason") == AccountDeleted.reason:
        return AccountDeleted(message, details=details)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message, details=details)
    base = NotFound if code.endswith("_NOT_FOUND") else VentaError
    return base(message, details=details, code=code if code in ERROR_TABLE else "INTERNAL")
