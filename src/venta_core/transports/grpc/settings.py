"""``GrpcSettings``: the ``grpc`` group of ``Settings`` (environment ``VENTA_GRPC__*``).

Kept beside the transport so every gRPC knob is documented in one place; ``Settings`` only
holds a ``grpc: GrpcSettings`` field. Importing this module needs neither grpc nor the stubs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator

__all__ = [
    "DEFAULT_PORTS",
    "GRPC_SECRET_PLACEHOLDER",
    "METRICS_PORT_OFFSET",
    "GrpcSettings",
    "placeholder_secret_error",
    "placeholder_secret_warning",
]

GRPC_SECRET_PLACEHOLDER = "venta-development-grpc-secret-change-me"  # noqa: S105 - documented

_PLACEHOLDER_BYTES = GRPC_SECRET_PLACEHOLDER.encode("utf-8")

#: Default port of each service (the seed system's ports).
DEFAULT_PORTS: dict[str, int] = {"user": 5000, "location": 5001, "vendor": 5005}

#: Unless ``metrics_port`` is set, the side HTTP port is the first gRPC port plus this offset
#: (user 9000, location 9001, vendor 9005), so processes on one host do not collide.
METRICS_PORT_OFFSET = 4000


class GrpcSettings(BaseModel):
    """How venta processes talk gRPC: identity signing, deadlines, retries, TLS, ports."""

    identity_secret: SecretStr = Field(
        SecretStr(GRPC_SECRET_PLACEHOLDER),
        description=(
            "Shared secret signing the acting identity (`x-venta-identity`) between venta "
            "processes. Every gRPC client and server of one deployment must use the same value; "
            "must be changed outside development."
        ),
    )
    identity_secret_accepted: SecretStr | None = Field(
        None,
        description=(
            "During a rotation only: a second secret accepted on the calls received, never used "
            "to sign. A rotation sets it to the new secret everywhere, then swaps it with "
            "`identity_secret`, then unsets it (docs/operations.md)."
        ),
    )
    identity_ttl_seconds: float = Field(
        30.0, gt=0, le=3600, description="Lifetime of a signed identity, per call attempt."
    )
    clock_skew_seconds: float = Field(
        5.0, ge=0, le=300, description="Clock difference between processes tolerated on expiry."
    )
    deadline_seconds: float = Field(
        5.0, gt=0, le=600, description="Deadline of one client call, retries included."
    )
    retry_max_attempts: int = Field(
        4, ge=1, le=10, description="Tries of an idempotent call that meets UNAVAILABLE."
    )
    retry_initial_backoff_seconds: float = Field(
        0.1, gt=0, description="Upper bound of the first retry delay (full jitter)."
    )
    retry_max_backoff_seconds: float = Field(
        2.0, gt=0, description="Upper bound of any retry delay."
    )
    retry_backoff_multiplier: float = Field(
        2.0, ge=1, description="Growth of the retry delay bound per attempt."
    )
    reconnect_max_backoff_seconds: float = Field(
        5.0, gt=0, description="Longest wait of a channel between reconnection attempts."
    )
    keepalive_seconds: float = Field(
        30.0, ge=10, description="Interval of HTTP/2 keepalive pings on idle connections."
    )
    keepalive_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a keepalive ping may go unanswered."
    )
    max_connection_age_seconds: float = Field(
        300.0,
        ge=0,
        description="A server closes each client connection (gracefully) after about this "
        "long, so clients resolve the service's address again and spread over new replicas "
        "(0: never).",
    )
    max_connection_age_grace_seconds: float = Field(
        30.0, ge=0, description="Calls in flight on a connection being closed get this long."
    )
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest message sent or received."
    )
    host: str = Field("127.0.0.1", description="Interface `venta serve grpc` binds to.")
    user_port: int = Field(DEFAULT_PORTS["user"], ge=0, le=65535, description="UserService.")
    vendor_port: int = Field(DEFAULT_PORTS["vendor"], ge=0, le=65535, description="VendorService.")
    location_port: int = Field(
        DEFAULT_PORTS["location"], ge=0, le=65535, description="LocationService."
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description=(
            "Side HTTP port of `venta serve grpc` serving /health, /ready and /metrics (one per "
            "process, on `host`). Unset: the gRPC port of the first service served plus 4000 "
            "(user 9000, location 9001, vendor 9005). 0: any free port."
        ),
    )
    reflection: bool = Field(
        False, description="Serve the gRPC reflection service (for grpcurl and the like)."
    )
    shutdown_drain_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        description="On SIGTERM, how long a server keeps answering calls after its health "
        "turned NOT_SERVING, so clients move to other replicas before it refuses new calls.",
    )
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM, how long in-flight calls may finish (after the drain); calls "
        "still running are then answered UNAVAILABLE.",
    )
    tls_cert_file: Path | None = Field(
        None,
        description=(
            "PEM certificate chain of this process: the server's certificate, and the client "
            "certificate for mutual TLS. Set with `tls_key_file`."
        ),
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of `tls_cert_file`.")
    tls_ca_file: Path | None = Field(
        None,
        description=(
            "PEM CA bundle that verifies peers. Clients: TLS on, servers verified with it. "
            "Servers: client certificates required and verified with it (mutual TLS)."
        ),
    )

    @model_validator(mode="after")
    def _tls_pairs(self) -> GrpcSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if len(self.secret_bytes) < 16:
            raise ValueError("identity_secret must be at least 16 bytes long")
        accepted = self.accepted_secret_bytes
        if accepted is not None and len(accepted) < 16:
            raise ValueError("identity_secret_accepted must be at least 16 bytes long")
        if self.retry_max_backoff_seconds < self.retry_initial_backoff_seconds:
            raise ValueError("retry_max_backoff_seconds is below retry_initial_backoff_seconds")
        return self

    def port_of(self, service: str) -> int:
        """The configured port of ``service`` (user, vendor, location)."""
        ports = {"user": self.user_port, "vendor": self.vendor_port, "location": self.location_port}
        return ports[service]

    def metrics_port_for(self, grpc_port: int) -> int:
        """The side HTTP port of a process whose first gRPC server listens on ``grpc_port``."""
        if self.metrics_port is not None:
            return self.metrics_port
        derived = grpc_port + METRICS_PORT_OFFSET
        return derived if grpc_port and derived <= 65535 else 0

    @property
    def secret_bytes(self) -> bytes:
        return self.identity_secret.get_secret_value().encode("utf-8")

    @property
    def accepted_secret_bytes(self) -> bytes | None:
        """The second secret accepted on calls received during a rotation, or None."""
        if self.identity_secret_accepted is None:
            return None
        return self.identity_secret_accepted.get_secret_value().encode("utf-8")

    @property
    def uses_placeholder_secret(self) -> bool:
        return self.identity_secret.get_secret_value() == GRPC_SECRET_PLACEHOLDER


def placeholder_secret_warning(settings: GrpcSettings, environment: str) -> str | None:
    """What to log at start of a process that talks gRPC with the placeholder secret outside
    production (where ``placeholder_secret_error`` refuses it), or None."""
    if environment != "production" and settings.uses_placeholder_secret:
        return (
            "grpc.identity_secret is the development placeholder, so anyone who can reach a gRPC "
            "port can act as any user; set VENTA_GRPC__IDENTITY_SECRET to the same random value "
            "in every venta process (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            "; production refuses the placeholder"
        )
    return None


def placeholder_secret_error(settings: GrpcSettings, environment: str) -> str | None:
    """The reason a production deployment must not start with these settings, or None."""
    if environment == "production" and settings.uses_placeholder_secret:
        return (
            "grpc.identity_secret is the development placeholder; set VENTA_GRPC__IDENTITY_SECRET "
            "to the same random value in every venta process"
        )
    if environment == "production" and settings.accepted_secret_bytes == _PLACEHOLDER_BYTES:
        return (
            "grpc.identity_secret_accepted is the development placeholder, which would let anyone "
            "sign identities; unset VENTA_GRPC__IDENTITY_SECRET_ACCEPTED"
        )
    return None
