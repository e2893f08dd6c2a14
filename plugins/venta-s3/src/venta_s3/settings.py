"""Settings of the S3 plugin, read from ``VENTA_S3_*`` variables (or ``.env``)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.settings import SettingsError

__all__ = ["S3Settings", "UrlMode", "load_s3_settings"]

UrlMode = Literal["public", "presigned", "proxy"]


class S3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENTA_S3_", env_file=".env", extra="ignore")

    bucket: str | None = Field(None, description="The bucket; unset: the plugin stays off.")
    region: str | None = Field(None, description="The bucket's region (AWS); unset: the SDK's.")
    endpoint_url: str | None = Field(
        None, description="An S3-compatible endpoint (MinIO, R2, ...); unset: AWS."
    )
    access_key_id: str | None = Field(
        None, description="Access key id; unset (with the secret): the SDK's credential chain."
    )
    secret_access_key: SecretStr | None = Field(None, description="Secret access key.")
    key_prefix: str = Field("images/", description="Prefix of the object keys.")
    url_mode: UrlMode | None = Field(
        None,
        description="public (PUBLIC_BASE_URL + key), presigned (signed GET URLs that expire) or "
        "proxy (the gateway serves the objects); unset: public with PUBLIC_BASE_URL, else "
        "presigned.",
    )
    public_base_url: str | None = Field(
        None, description="URL prefix of the objects (a CDN, or the bucket's public URL)."
    )
    presigned_expiry_seconds: int = Field(
        3600, ge=1, le=604800, description="Lifetime of presigned URLs (at most 7 days)."
    )
    acl: Literal["private", "public-read"] | None = Field(
        None, description="Canned ACL of new objects; unset: the bucket's policy decides."
    )
    cache_control: str = Field(
        "public, max-age=31536000, immutable",
        min_length=1,
        description="Cache-Control of new objects (a key never changes content).",
    )
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket in the path or in the host name (MinIO: path)."
    )
    connect_timeout_seconds: float = Field(2.0, gt=0)
    read_timeout_seconds: float = Field(10.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10, description="Attempts of a call, first included.")

    @field_validator("key_prefix")
    @classmethod
    def _relative_prefix(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("a key prefix is relative and has no '..' segment")
        return value

    @field_validator("endpoint_url", "public_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("an http(s) URL is expected")
        return value.rstrip("/")

    @property
    def configured(self) -> bool:
        return bool(self.bucket)

    @property
    def mode(self) -> UrlMode:
        if self.url_mode is not None:
            return self.url_mode
        return "public" if self.public_base_url else "presigned"

    def check(self) -> None:
        """Refuse a half-made configuration with a one-line ``SettingsError``."""
        if (self.access_key_id is None) != (self.secret_access_key is None):
            missing = "SECRET_ACCESS_KEY" if self.access_key_id else "ACCESS_KEY_ID"
            raise SettingsError(f"S3 is half configured: VENTA_S3_{missing} is not set")
        if self.configured and self.mode == "public" and not self.public_base_url:
            raise SettingsError("VENTA_S3_URL_MODE=public needs VENTA_S3_PUBLIC_BASE_URL")


def load_s3_settings() -> S3Settings:
    """``S3Settings()`` from the environment, an invalid value reported in one line."""
    try:
        return S3Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VENTA_S3_" + "_".join(str(p).upper() for p in first.get("loc", ()))
        raise SettingsError(f"{name}: {first.get('msg', 'invalid value')}") from None
