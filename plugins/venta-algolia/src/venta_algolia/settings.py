"""Settings of the Algolia plugin, read from ``VENTA_ALGOLIA_*`` variables (or ``.env``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from venta_core.settings_types import CommaList

__all__ = ["AlgoliaSettings"]


class AlgoliaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENTA_ALGOLIA_", env_file=".env", extra="ignore")

    app_id: str | None = Field(None, description="Algolia application id.")
    api_key: SecretStr | None = Field(
        None, description="Key with search, addObject, deleteObject, settings and browse rights."
    )
    index_name: str = Field("vendors", min_length=1, description="Index holding the vendors.")
    hosts: CommaList[str] = Field(
        default_factory=list,
        description="Replace Algolia's hosts (comma list or JSON list of URLs); for tests.",
    )
    connect_timeout_seconds: float = Field(2.0, gt=0)
    read_timeout_seconds: float = Field(5.0, gt=0, description="Searches and reads.")
    write_timeout_seconds: float = Field(30.0, gt=0, description="Batches and settings.")
    deletion_memory_seconds: float = Field(
        7 * 24 * 3600,
        gt=0,
        description="How long a deleted vendor is remembered, so a late event cannot revive it.",
    )
    apply_settings: bool = Field(
        True, description="Write the index settings (searchable attributes, facets) at start."
    )

    @property
    def configured(self) -> bool:
        """Whether both credentials are set. One without the other is a mistake: ``check``."""
        return bool(self.app_id) and self.api_key is not None

    def check(self) -> None:
        if bool(self.app_id) != (self.api_key is not None):
            missing = "VENTA_ALGOLIA_API_KEY" if self.app_id else "VENTA_ALGOLIA_APP_ID"
            raise ValueError(f"Algolia is half configured: {missing} is not set")
