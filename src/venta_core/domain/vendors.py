"""Vendors: a mobile business (food truck, market stall) owned by one user."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)

from venta_core.domain.base import DomainModel, InputModel, UtcDatetime
from venta_core.domain.text import Storable

__all__ = ["Vendor", "VendorCreate", "VendorSummary", "VendorUpdate"]

_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("phone may hold digits, spaces and + ( ) . / - only (3-32 characters)")
    return value


_IPV4_PART = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LABEL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
_LAST_LABEL = r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*"
_HOST = rf"(?:(?:{_LABEL}\.)*{_LAST_LABEL}|(?:{_IPV4_PART}\.){{3}}{_IPV4_PART})"
_PORT = r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
#: An http(s) URL as venta accepts it (also the OpenAPI ``pattern``): an ASCII host name
#: whose labels are letters and digits joined by single hyphens, the last one starting with
#: a letter, or an IPv4 address; an optional port; then anything but white space and
#: control characters. No user name or password.
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_HOST}{_PORT}(?:[/?#][^\x00-\x20\x7f]*)?$"
_URL = re.compile(URL_PATTERN)
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("must be an http(s) URL with a host name or IPv4 address")
    _HTTP_URL.validate_python(value)
    return value


def _ci(word: str) -> str:
    """``word`` as a case-insensitive regex (JSON schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c}]" for c in word)


#: email-validator refuses the special-use domains (``.test``, ``.localhost``, ...), which the
#: OpenAPI ``format: email`` alone would allow; the pattern states it.
EMAIL_PATTERN = (
    r"^(?![^@]*@(?:[^@]*\.)?(?:"
    + "|".join(_ci(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    + r")\.?$)[^\x00]*$"
)


def _email(value: str) -> str:
    """An email address (email-validator's syntax, no deliverability check), normalised;
    no display name ("Name <a@b.c>"), unlike pydantic's ``EmailStr``."""
    try:
        parsed = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return parsed.normalized


#: Lengths count the text as sent; name and description are stored without surrounding
#: white space.
Name = Annotated[str, StringConstraints(max_length=100), Storable(strip=True, blank=False)]
Description = Annotated[str, StringConstraints(max_length=2000), Storable(strip=True)]
Phone = Annotated[
    str, StringConstraints(max_length=32), Storable(pattern=_PHONE.pattern), AfterValidator(_phone)
]
Url = Annotated[
    str, StringConstraints(max_length=2048), Storable(pattern=URL_PATTERN), AfterValidator(_url)
]
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    Storable(),
    AfterValidator(_email),
    WithJsonSchema(
        {"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN}
    ),
]


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
    email: Email | None = None
    website: Url | None = None
    open: StrictBool = False
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


def _not_nullable(*fields: str) -> Callable[[dict[str, Any]], None]:
    """JSON schema: ``fields`` may be left out but are never ``null`` (the model validator
    refuses an explicit null)."""

    def drop_null(schema: dict[str, Any]) -> None:
        for name in fields:
            prop = schema["properties"][name]
            branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
            if branches:
                prop.update(branches[0])
            prop.pop("default", None)

    return drop_null


class VendorUpdate(InputModel):
    """Body of PUT /v1/vendors/{id}: only the fields present change; ``null`` clears one."""

    name: Name | None = None
    description: Description | None = None
    phone: Phone | None = None
    email: Email | None = None
    website: Url | None = None
    open: StrictBool | None = None
    primary_image: Url | None = Field(None, validation_alias="primaryImage")
    image_url: Url | None = Field(None, validation_alias="imageUrl")

    model_config = ConfigDict(json_schema_extra=_not_nullable("name", "open"))

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
