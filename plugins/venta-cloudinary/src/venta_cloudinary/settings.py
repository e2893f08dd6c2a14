"""Settings of the Cloudinary plugin, read from ``VENTA_CLOUDINARY_*`` variables (or ``.env``)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.settings import SettingsError

__all__ = ["CloudinarySettings", "load_cloudinary_settings"]

_FOLDER = re.compile(r"^([A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*)?$")


class CloudinarySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VENTA_CLOUDINARY_", env_file=".env", extra="ignore"
    )

    cloud_name: str | None = Field(None, description="Cloud name; unset: the plugin stays off.")
    api_key: str | None = Field(None, description="API key.")
    api_secret: SecretStr | None = Field(None, description="API secret (signs every request).")
    folder: str = Field("venta", description="Folder of the public ids ('' for none).")
    upload_prefix: str | None = Field(
        None, description="Base URL of the upload API (a regional host); unset: Cloudinary's."
    )
    delivery_type: Literal["upload", "authenticated"] = Field(
        "upload", description="upload: public; authenticated: only signed URLs deliver."
    )
    sign_urls: bool = Field(False, description="Sign delivery URLs (always for authenticated).")
    secure_distribution: str | None = Field(
        None, description="Delivery host of a private CDN or custom domain; unset: Cloudinary's."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Timeout of an API call.")

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        value = value.strip("/")
        if not _FOLDER.match(value):
            raise ValueError("letters, digits, _ and - in /-separated parts")
        return value

    @field_validator("upload_prefix")
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
        return bool(self.cloud_name)

    @property
    def signed_delivery(self) -> bool:
        return self.sign_urls or self.delivery_type == "authenticated"

    def check(self) -> None:
        """Refuse a half-made configuration with a one-line ``SettingsError``."""
        given = {
            "CLOUD_NAME": bool(self.cloud_name),
            "API_KEY": bool(self.api_key),
            "API_SECRET": self.api_secret is not None,
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(f"VENTA_CLOUDINARY_{n}" for n, ok in given.items() if not ok)
            raise SettingsError(f"Cloudinary is half configured: {missing} not set")


def load_cloudinary_settings() -> CloudinarySettings:
    """``CloudinarySettings()`` from the environment, an invalid value reported in one line."""
    try:
        return CloudinarySettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VENTA_CLOUDINARY_" + "_".join(str(p).upper() for p in first.get("loc", ()))
        raise SettingsError(f"{name}: {first.get('msg', 'invalid value')}") from None
