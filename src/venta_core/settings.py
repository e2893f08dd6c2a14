"""Configuration: one ``Settings`` object, built once (CLI or test) and passed down.

Every field is read from the environment with the ``VENTA_`` prefix; nested groups use ``__``
(``VENTA_HTTP__PORT=9000``). A ``.env`` file in the working directory is read too.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from venta_core.settings_types import CommaList, NatsUrl, RedisUrl
from venta_core.transports.grpc.settings import GrpcSettings, placeholder_secret_error

__all__ = [
    "AuthSettings",
    "Environment",
    "EventsSettings",
    "GeoSettings",
    "HttpSettings",
    "LocationSettings",
    "LogSettings",
    "RateLimitSettings",
    "RealtimeSettings",
    "SearchSettings",
    "ServiceEndpoint",
    "ServicesSettings",
    "Settings",
    "SettingsError",
    "UploadSettings",
    "WorkerSettings",
    "load_settings",
]

DEV_SECRET_PLACEHOLDER = "venta-development-secret-change-me"  # noqa: S105 - a documented placeholder


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface the HTTP gateway binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP gateway.")
    cors_origins: CommaList[str] = Field(
        default_factory=list, description="Origins allowed by CORS (empty: CORS off)."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted JSON request body, in bytes."
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client IP from X-Forwarded-For (only behind a trusted proxy).",
    )
    shutdown_timeout_seconds: float = Field(
        10.0, gt=0, description="How long SIGTERM waits for in-flight requests."
    )
    max_header_bytes: int = Field(
        32_768,
        ge=1024,
        le=1_048_576,
        description="Largest request head (request line and headers) on every HTTP port; "
        "larger: 431.",
    )
    max_headers: int = Field(
        100, ge=8, le=1000, description="Most header fields of a request on every HTTP port."
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Public base URL of the gateway (https://api.example.com), used in the URLs "
        "it hands out (uploaded images); unset: http://<host>:<port> of these settings.",
    )
    map_page: bool | None = Field(
        None,
        description="Serve the live map page at /map; unset: on, except with VENTA_ENV=production.",
    )

    @property
    def base_url(self) -> str:
        """The gateway's public base URL, without a trailing slash. Never taken from a
        request's ``Host`` header, which the client chooses."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class AuthSettings(BaseModel):
    dev_tokens: bool = Field(
        True, description="Accept HS256 development tokens issued by `venta token issue`."
    )
    dev_secret: SecretStr = Field(
        SecretStr(DEV_SECRET_PLACEHOLDER),
        description="HMAC secret of development tokens. Must be changed outside development.",
    )
    dev_secret_previous: SecretStr | None = Field(
        None,
        description=(
            "During a rotation only: the secret being replaced. Development tokens signed with "
            "it are still accepted; new ones are signed with `dev_secret`. Unset once the tokens "
            "signed with it have expired or been replaced."
        ),
    )
    dev_issuer: str = Field("venta", description="`iss` claim of development tokens.")
    dev_audience: str = Field("venta", description="`aud` claim of development tokens.")
    leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    identity_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a token subject -> user id lookup is cached in process.",
    )
    token_cache_size: int = Field(
        10_000,
        ge=0,
        description="Bearer tokens whose verification is cached in process (HTTP gateway), "
        "until the token expires; 0: verify every request.",
    )
    token_cache_seconds: float = Field(
        300.0,
        ge=0,
        description="Longest time a verified bearer token is served from that cache; 0: off.",
    )


class RateLimitSettings(BaseModel):
    enabled: bool = Field(True, description="Turn HTTP rate limiting on or off.")
    window_seconds: int = Field(60, ge=1, description="Length of a rate-limit window.")
    per_identity: int = Field(
        120, ge=1, description="Requests one authenticated identity may make per window."
    )
    per_ip: int = Field(300, ge=1, description="Requests one client IP may make per window.")


class GeoSettings(BaseModel):
    region_precision: int = Field(
        3,
        ge=1,
        le=5,
        description="Geohash length of a geo-index region key (Redis Cluster sharding unit).",
    )
    cell_precision: int = Field(
        5,
        ge=3,
        le=7,
        description="Geohash length of a live-position cell (real-time subject partition).",
    )


class LocationSettings(BaseModel):
    flush_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Write-behind: how often last known positions are written to the database.",
    )
    flush_max_pending: int = Field(
        10_000, ge=1, description="Write-behind: flush early when this many vendors are pending."
    )
    default_limit: int = Field(100, ge=1, description="Results of a nearby query without `limit`.")
    max_limit: int = Field(1000, ge=1, description="Largest `limit` a nearby query may ask for.")
    max_radius_m: float = Field(
        100_000, gt=0, description="Largest radius (metres) of a nearby query."
    )
    max_clusters: int = Field(
        256,
        ge=1,
        le=4096,
        description="Clusters of a zoomed-out map (REST and real-time): the box is split into "
        "the geohash cells of the finest precision at which it covers at most this many.",
    )
    warm_geo_index: bool = Field(
        True,
        description="Refill the geo index with the last known positions of live vendors from "
        "the database when it is empty: at start, and when it comes back empty (a Redis "
        "restarted without persistence).",
    )
    refill_check_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How often each process checks whether the geo index came back empty and "
        "must be refilled (one Redis command; at once when Redis answers again after an "
        "outage). 0: only at start.",
    )
    moved_event_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="`vendor.moved`: at most one event per vendor this often while it moves "
        "(0: no `vendor.moved` events).",
    )
    moved_event_min_meters: float = Field(
        200.0,
        ge=0,
        description="`vendor.moved`: a move farther than this from the last event's position is "
        "emitted at the next flush, without waiting for the interval (0: only the interval "
        "counts).",
    )


class RealtimeSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface `venta serve ws` binds to.")
    port: int = Field(8001, ge=0, le=65535, description="Port of `venta serve ws`.")
    cors_origins: CommaList[str] = Field(
        default_factory=list,
        description="Browser origins allowed to connect (empty: same origin only; native "
        "clients send no Origin and are always allowed).",
    )
    vendor_messages_per_minute: int = Field(
        30, ge=1, description="Messages one user may send on /vendor per minute."
    )
    user_messages_per_minute: int = Field(
        15, ge=1, description="Messages one user may send on /user per minute."
    )
    max_connections_per_user: int = Field(
        10,
        ge=1,
        description="Connections one user may hold per namespace on one ws process.",
    )
    max_viewport_cells: int = Field(
        256,
        ge=1,
        le=4096,
        description="Most live-position cells one viewport may cover (larger: VALIDATION_ERROR).",
    )
    ping_interval_seconds: float = Field(
        25.0, gt=0, description="Engine.IO ping interval sent to clients."
    )
    ping_timeout_seconds: float = Field(
        20.0, gt=0, description="How long a client may take to answer a ping."
    )
    max_payload_bytes: int = Field(
        65_536, ge=1024, description="Largest message a client may send, in bytes."
    )
    connects_per_ip_per_minute: int = Field(
        120,
        ge=0,
        description="New connections one client IP may open per minute, over all ws processes "
        "(counted in the key-value store; the IP as for HTTP rate limits); more are answered "
        "429 RATE_LIMITED at the handshake. 0: no limit.",
    )
    offline_grace_seconds: float = Field(
        15.0,
        ge=0,
        description="After a vendor's last connection drops, how long until its live "
        "position is removed (a reconnect within this time keeps it).",
    )
    presence_ttl_seconds: float = Field(
        60.0,
        ge=3,
        description="How long a vendor's presence lasts unless its process renews it (every "
        "third of this); a crashed process's vendors go offline this long after its last renewal.",
    )
    presence_sweep_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often each ws process looks for expired vendors to take offline.",
    )
    resync_seconds: float = Field(
        30.0,
        ge=0,
        description="How often each ws process compares the cells its users watch with the geo "
        "index and repairs what lost bus messages left wrong (0: never).",
    )
    max_send_buffer_bytes: int = Field(
        1_048_576,
        ge=4096,
        description="A client whose unsent data (including its conflated backlog) exceeds this "
        "is too slow and is disconnected.",
    )
    recovery_seconds: float = Field(
        120.0,
        ge=0,
        description="How long a dropped connection's session is kept for connection state "
        "recovery: a client reconnecting within this time, to any ws process, gets its session, "
        "viewport and what changed back (0: no recovery).",
    )
    conflate_above_bytes: int = Field(
        65_536,
        ge=0,
        description="A client with more unsent data than this receives only the latest "
        "position per vendor until it catches up (0: no conflation; it must be below "
        "MAX_SEND_BUFFER_BYTES to take effect).",
    )
    coalesce_moves: bool = Field(
        True,
        description="When this process falls behind, a vendor's positions waiting for the "
        "fan-out are replaced by its latest one (counted in `venta_ws_coalesced_total`), so "
        "latency stays bounded; false: every position is sent, however late.",
    )
    max_viewport_pins: int = Field(
        500,
        ge=1,
        description="A viewport holding more live vendors than this (or covering more than "
        "`max_viewport_cells` cells) is answered with `vendor_clusters` instead of pins.",
    )
    cluster_refresh_seconds: float = Field(
        2.0,
        gt=0,
        le=300,
        description="How often at most a clustered viewport is sent fresh `vendor_clusters` "
        "while its counts change.",
    )


class EventsSettings(BaseModel):
    stream_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="JetStream stream of domain events. Unset: the key prefix in capitals (VENTA).",
    )
    retention: Literal["limits", "interest", "workqueue"] = Field(
        "limits", description="JetStream retention policy of the event stream."
    )
    storage: Literal["file", "memory"] = Field(
        "file", description="JetStream storage of the event streams."
    )
    max_age_seconds: float = Field(
        604_800, gt=0, description="How long the stream keeps an event (default 7 days)."
    )
    max_msgs: int = Field(
        -1, ge=-1, description="Most events the stream keeps (-1: no limit; oldest dropped)."
    )
    max_bytes: int = Field(
        -1, ge=-1, description="Most bytes the stream keeps (-1: no limit; oldest dropped)."
    )
    replicas: int = Field(1, ge=1, le=5, description="JetStream replicas of the event streams.")
    duplicate_window_seconds: float = Field(
        120, gt=0, description="Window in which a repeated event id is dropped by the stream."
    )
    dlq_max_age_seconds: float = Field(
        2_592_000, gt=0, description="How long dead-lettered events are kept (default 30 days)."
    )
    memory_max_msgs: int = Field(
        100_000,
        ge=100,
        description="In-process stream (no NATS): most events kept in memory; oldest dropped.",
    )
    relay_enabled: bool = Field(
        True, description="Run the outbox relay in this process (one relay publishes at a time)."
    )
    relay_interval_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Outbox relay: poll interval when no commit or notification wakes it.",
    )
    relay_batch: int = Field(500, ge=1, le=10_000, description="Outbox rows relayed per batch.")
    publish_timeout_seconds: float = Field(
        5.0, gt=0, description="How long the relay waits for the stream to confirm a batch."
    )
    outbox_retention_hours: float = Field(
        168, gt=0, description="Relayed outbox rows older than this are deleted (default 7 days)."
    )


class WorkerSettings(BaseModel):
    host: str = Field(
        "127.0.0.1", description="Interface of the worker's /health, /ready, /metrics."
    )
    port: int = Field(
        8002, ge=0, le=65535, description="Port of the worker's /health, /ready and /metrics."
    )
    concurrency: int = Field(
        16, ge=1, le=1024, description="Events one handler works on at the same time."
    )
    batch_size: int = Field(
        256,
        ge=1,
        le=4096,
        description="Events fetched and handed at once to a handler that takes batches.",
    )
    ack_wait_seconds: float = Field(
        30, gt=0, description="An unacknowledged event is redelivered after this long."
    )
    max_deliver: int = Field(
        5, ge=1, le=100, description="Deliveries of an event before it is dead-lettered."
    )
    backoff_seconds: CommaList[float] = Field(
        default_factory=lambda: [1.0, 5.0, 30.0, 120.0],
        description="Delays before the n-th retry of a failed event (last one repeats).",
    )
    drain_timeout_seconds: float = Field(
        20, gt=0, description="On SIGTERM, how long events being handled may finish."
    )
    webhook_retention_days: float = Field(
        30,
        ge=1,
        description="Handled webhook delivery ids older than this are deleted (keep them "
        "longer than the providers retry).",
    )
    housekeeping_interval_seconds: float = Field(
        3600, gt=0, description="How often the worker deletes old webhook delivery ids."
    )

    @field_validator("backoff_seconds")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if not value or any(v < 0 for v in value):
            raise ValueError("give one or more delays, none negative")
        return value


class SearchSettings(BaseModel):
    default_limit: int = Field(20, ge=1, le=100, description="Hits per page without `limit`.")
    max_query_length: int = Field(
        200, ge=1, le=1000, description="Longest accepted search text `q`, in characters."
    )
    max_radius_m: float = Field(
        100_000, gt=0, description="Largest radius (metres) of a search's geo filter."
    )
    reindex_batch: int = Field(
        500, ge=1, le=10_000, description="Vendors read and written per batch by a reindex."
    )


class ServiceEndpoint(BaseModel):
    address: str | None = Field(
        None, description="host:port of a remote gRPC service; unset means in-process."
    )


class ServicesSettings(BaseModel):
    user: ServiceEndpoint = Field(default_factory=ServiceEndpoint)
    vendor: ServiceEndpoint = Field(default_factory=ServiceEndpoint)
    location: ServiceEndpoint = Field(default_factory=ServiceEndpoint)


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`json`: one JSON object per line (for log collectors); `text`: readable "
        "lines; `auto`: text when stderr is a terminal, JSON otherwise.",
    )
    json_format: bool | None = Field(
        None,
        description="Deprecated, use `format`: true is `json`, false is `text` (used only when "
        "`format` is not set).",
    )

    @model_validator(mode="after")
    def _legacy_json_format(self) -> LogSettings:
        if self.json_format is not None and "format" not in self.model_fields_set:
            self.format = "json" if self.json_format else "text"
        return self


class UploadSettings(BaseModel):
    dir: str = Field(
        "uploads", description="Directory of the built-in upload store (created when missing)."
    )
    max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Largest accepted image upload, in bytes."
    )
    allowed_types: CommaList[str] = Field(
        default_factory=lambda: ["image/jpeg", "image/png", "image/webp"],
        description="Image types accepted, recognised by their magic bytes "
        "(image/jpeg, image/png, image/webp, image/gif).",
    )
    public_base_url: str | None = Field(
        None,
        description="URL prefix of stored images (a CDN or proxy in front of the store); "
        "unset: the gateway's own /v1/uploads/images/{name}.",
    )
    delete_unused_images: bool = Field(
        True,
        description="The worker deletes a stored image once no vendor shows it (vendor "
        "deleted, primaryImage replaced or removed: the image.released events).",
    )

    @field_validator("allowed_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        known = {"image/jpeg", "image/png", "image/webp", "image/gif"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown image types {unknown}; known: {sorted(known)}")
        return value


class Settings(BaseSettings):
    """Everything a venta process needs to know, validated at start."""

    model_config = SettingsConfigDict(
        env_prefix="VENTA_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = Field(Environment.DEVELOPMENT, description="Deployment environment.")
    database_url: str = Field(
        "sqlite+aiosqlite:///venta.db",
        description="SQLAlchemy URL. SQLite file by default; postgresql://... in production.",
    )
    database_auto_migrate: bool | None = Field(
        None,
        description="Run migrations at start. Unset: yes on SQLite, no elsewhere.",
    )
    database_pool_size: int = Field(10, ge=1, description="Connections per process (PostgreSQL).")
    redis_url: RedisUrl = Field(
        None,
        description="Redis URL for the geo index, presence and rate limits (`redis+cluster://` "
        "for a Redis Cluster); unset: in-process.",
    )
    nats_url: NatsUrl = Field(
        None, description="NATS URL for the event bus; unset: in-process bus."
    )
    key_prefix: str = Field(
        "venta",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="Prefix of Redis keys and NATS subjects.",
    )
    plugins_blocked: CommaList[str] = Field(
        default_factory=list, description="Plugin names not to load (comma list or JSON list)."
    )
    gc_threshold: int = Field(
        50_000,
        ge=0,
        description="`venta serve`: allocations between the garbage collector's passes over "
        "new objects (Python's default 700); 0 leaves Python's setting.",
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    geo: GeoSettings = Field(default_factory=GeoSettings)
    location: LocationSettings = Field(default_factory=LocationSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    grpc: GrpcSettings = Field(default_factory=GrpcSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the common sync spellings and pick the async driver for them."""
        aliases = {
            "postgres://": "postgresql+asyncpg://",
            "postgresql://": "postgresql+asyncpg://",
            "sqlite://": "sqlite+aiosqlite://",
        }
        for plain, driver in aliases.items():
            if value.startswith(plain):
                return driver + value[len(plain) :]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("use a postgresql:// or sqlite:// URL")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if (
            self.env is Environment.PRODUCTION
            and self.auth.dev_tokens
            and self.auth.dev_secret.get_secret_value() == DEV_SECRET_PLACEHOLDER
        ):
            raise ValueError(
                "auth.dev_secret is the development placeholder; set VENTA_AUTH__DEV_SECRET "
                "or VENTA_AUTH__DEV_TOKENS=false in production"
            )
        previous = self.auth.dev_secret_previous
        if (
            self.env is Environment.PRODUCTION
            and self.auth.dev_tokens
            and previous is not None
            and previous.get_secret_value() == DEV_SECRET_PLACEHOLDER
        ):
            raise ValueError(
                "auth.dev_secret_previous is the development placeholder; unset "
                "VENTA_AUTH__DEV_SECRET_PREVIOUS in production"
            )
        if self.remote_services:
            problem = placeholder_secret_error(self.grpc, self.env.value)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def remote_services(self) -> dict[str, str]:
        """Services configured to run in another process: name -> address."""
        endpoints = {
            "user": self.services.user,
            "vendor": self.services.vendor,
            "location": self.services.location,
        }
        return {name: e.address for name, e in endpoints.items() if e.address}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def auto_migrate(self) -> bool:
        if self.database_auto_migrate is None:
            return self.is_sqlite
        return self.database_auto_migrate


class SettingsError(ValueError):
    """Invalid configuration; ``str()`` is one line naming the offending variable."""


def _env_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).isdigit()]
    return "VENTA_" + "__".join(p.upper() for p in parts) if parts else "VENTA_*"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and ``overrides``), with a one-line error."""
    try:
        return Settings(**overrides)
    except SourceError as exc:  # a group given as one variable (VENTA_HTTP=...) that is not JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        name = _env_name((field.group(1),)) if field else "VENTA_*"
        raise SettingsError(f"{name}: not valid JSON ({exc.__cause__})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _env_name(first["loc"])
        given = first.get("input")
        sensitive = any(word in name for word in ("SECRET", "PASSWORD", "TOKEN", "_URL"))
        shown = "" if isinstance(given, dict) or sensitive else f" (got {given!r})"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}{shown}") from None
