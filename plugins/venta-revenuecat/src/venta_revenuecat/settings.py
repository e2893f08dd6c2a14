"""Settings of the RevenueCat plugin: environment variables ``VENTA_REVENUECAT_*`` (and
``.env``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.settings import SettingsError
from venta_core.settings_types import CommaList

__all__ = ["RevenueCatSettings", "load_revenuecat_settings"]


class RevenueCatSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VENTA_REVENUECAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    webhook_auth: SecretStr | None = Field(
        None,
        description="The value RevenueCat sends in the Authorization header (set in its "
        "webhook settings). Unset: the webhook routes answer 503.",
    )
    webhook_auth_previous: SecretStr | None = Field(
        None,
        description="During a rotation only: the value being replaced, still accepted until "
        "RevenueCat sends the new one. Unset it afterwards.",
    )
    user_attribute: str | None = Field(
        "clerkUserId",
        description="Subscriber attribute naming the user's external id, tried before "
        "app_user_id (the seed apps set `clerkUserId`). Empty: not used.",
    )
    create_users: bool = Field(
        True,
        description="Create the user of an event whose ids match no user (as a first "
        "authenticated request would). Off: such an event answers 404 so RevenueCat retries.",
    )
    entitlement_ids: CommaList[str] = Field(
        default_factory=list,
        description="Entitlements that make a subscription (comma list); events for other "
        "entitlements are ignored. Empty: every entitlement counts.",
    )
    accept_sandbox: bool = Field(True, description="Apply SANDBOX events (turn off in production).")

    @field_validator("webhook_auth", "webhook_auth_previous", "user_attribute", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def load_revenuecat_settings(**overrides: Any) -> RevenueCatSettings:
    """Settings from the environment, or a one-line ``SettingsError`` naming the variable."""
    try:
        return RevenueCatSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VENTA_REVENUECAT_" + "_".join(str(p).upper() for p in first["loc"])
        raise SettingsError(f"{name}: {first['msg']}") from None
