"""Vendors: a mobile business (food truck, market stall) owned by one user."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from venta_core.domain.base import DomainModel, InputModel, UtcDatetime

__all__ = ["Vendor", "VendorCreate", "VendorSummary", "VendorUpdate"]

_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("phone may hold digits, spaces and + ( ) . / - only (3-32 characters)")
    return value


_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _url(value: str) -> str:
    _HTTP_URL.validate_python(value)
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_phone)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_url)]


class Vendor(DomainModel):
    id: str
    owner_id: str
    name: str
    description: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    open: bool = False
    primary_image: str | None = None
    lat: float | None = None
    long: float | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class VendorSummary(DomainModel):
    id: str
    name: str


class VendorCreate(InputModel):
    """Body of POST /v1/vendors; ``imageUrl`` is the seed clients' name for the image."""

    name: Name
    description: Description | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    website: Url | None = None
    open: bool = False
    primary_image: Url | None = Field(None, validation_alias="primaryImage")
    image_url: Url | None = Field(None, validation_alias="imageUrl")

    @model_validator(mode="after")
    def _image_alias(self) -> VendorCreate:
        if self.primary_image is None and self.image_url is not None:
            self.primary_image = self.image_url
        self.image_url = None
        return self

    def fields(self) -> dict[str, object]:
        return self.model_dump(exclude={"image_url"})


class VendorUpdate(InputModel):
    """Body of PUT /v1/vendors/{id}: only the fields present change; ``null`` clears one."""

    name: Name | None = None
    description: Description | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    website: Url | None = None
    open: bool | None = None
    primary_image: Url | None = Field(None, validation_alias="primaryImage")
    image_url: Url | None = Field(None, validation_alias="imageUrl")

    @model_validator(mode="after")
    def _not_null_required(self) -> VendorUpdate:
        for field in ("name", "open"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        """The fields the caller sent, by column name (``imageUrl`` folded into primary_image)."""
        data = self.model_dump(include=self.model_fields_set)
        if "image_url" in data:
            image = data.pop("image_url")
            data.setdefault("primary_image", image)
        return data
