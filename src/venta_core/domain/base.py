"""Shared pydantic base: snake_case in Python, camelCase on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def to_utc(value: datetime) -> datetime:
    """Every time venta stores or sends is UTC; a naive time is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


class DomainModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
    )


class InputModel(BaseModel):
    """A model built from untrusted input: unknown fields are refused, not ignored. Its text
    fields are ``domain.text`` types (no NUL; free text stripped of surrounding white space,
    structured values such as URLs taken exactly as sent)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )
