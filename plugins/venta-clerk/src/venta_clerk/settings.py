"""Settings of the Clerk plugin: environment variables ``VENTA_CLERK_*`` (and ``.env``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.settings import SettingsError
from venta_core.settings_types import CommaList

__all__ = ["ClerkSettings", "load_clerk_settings"]


class ClerkSettings(BaseSettings):
    """Token verification is on when ``issuer`` is set; webhooks when ``webhook_secret`` is."""

    model_config = SettingsConfigDict(
        env_prefix="VENTA_CLERK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    issuer: str | None = Field(
        None,
        description="The instance's Frontend API URL, the `iss` of its session tokens "
        "(https://clerk.example.com or https://<slug>.clerk.accounts.dev). Unset: the plugin "
        "does not verify tokens and the built-in provider stays in place.",
    )
    jwks_url: str | None = Field(
        None, description="JWKS URL; unset: `<issuer>/.well-known/jwks.json`."
    )
    audience: CommaList[str] = Field(
        default_factory=list,
        description="Accepted `aud` values (comma list). Empty: `aud` is not checked "
        "(Clerk session tokens have none unless a JWT template adds it).",
    )
    authorized_parties: CommaList[str] = Field(
        default_factory=list,
        description="Accepted `azp` values: the origins of your front ends (comma list). "
        "A token whose `azp` is not listed is refused. Empty: `azp` is not checked.",
    )
    require_authorized_party: bool = Field(
        False,
        description="Refuse tokens without `azp` (Clerk omits it for native apps, so this is "
        "off by default).",
    )
    leeway: float = Field(5.0, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat, s.")
    jwks_cache_seconds: float = Field(
        3600.0, ge=1, description="How long fetched signing keys are used before a refetch."
    )
    jwks_refresh_min_seconds: float = Field(
        30.0,
        ge=0,
        description="Least time between two JWKS fetches caused by an unknown `kid` (key "
        "rotation), so forged `kid`s cannot flood Clerk.",
    )
    jwks_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of a JWKS fetch.")
    webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret of the Clerk webhook endpoint (`whsec_...`). Unset: the "
        "webhook routes answer 503.",
    )
    webhook_tolerance_seconds: int = Field(
        300,
        ge=1,
        le=300,
        description="Largest age (or clock lead) of a webhook's svix-timestamp, in seconds; "
        "svix itself never accepts more than 300.",
    )

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _svix_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from svix.webhooks import Webhook  # imported here: svix is heavy, settings are not

        try:
            Webhook(value.get_secret_value())
        except Exception:
            raise ValueError("not a svix signing secret (whsec_<base64>)") from None
        return value

    @property
    def verifies_tokens(self) -> bool:
        return self.issuer is not None

    @property
    def effective_jwks_url(self) -> str:
        if self.jwks_url:
            return self.jwks_url
        if self.issuer is None:
            raise ValueError("VENTA_CLERK_ISSUER is not set")
        return f"{self.issuer}/.well-known/jwks.json"


def load_clerk_settings(**overrides: Any) -> ClerkSettings:
    """Settings from the environment, or a one-line ``SettingsError`` naming the variable."""
    try:
        return ClerkSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VENTA_CLERK_" + "_".join(str(p).upper() for p in first["loc"])
        raise SettingsError(f"{name}: {first['msg']}") from None
