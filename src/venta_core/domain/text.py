"""Text every store can keep, checked once in the domain models.

PostgreSQL's ``text`` cannot hold U+0000 (NUL), and no UTF-8 store can hold an unpaired
surrogate half (U+D800..U+DFFF), which a JSON ``"\\ud800"`` escape decodes to. Such a value
reaching the database fails the write with a 500 on PostgreSQL while SQLite keeps it, so the
same request would behave differently per backend. Every text field of the domain's input
models is one of the types here instead of a plain ``str``: HTTP, gRPC and Socket.IO build
those models, so all of them refuse such text with ``VALIDATION_ERROR`` (gRPC
``INVALID_ARGUMENT``), whatever the backend.

``Storable`` states the rule in the JSON schema too (a ``pattern`` without NUL), so the
OpenAPI document says what the server enforces. Free text (``Storable(strip=True)``) is also
stripped of surrounding white space, its length limit applying to the text as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "NOT_BLANK_PATTERN",
    "NO_NUL_PATTERN",
    "WHITESPACE",
    "Storable",
    "Text",
    "is_storable",
    "unstorable_reason",
]

#: Unicode White_Space: what surrounding white space means here (and in pydantic's strip).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: JSON schema ``pattern`` (ECMA 262) of text without NUL.
NO_NUL_PATTERN = r"^[^\x00]*$"
#: ... and with at least one character that is not white space.
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{_WS_CLASS}][^\x00]*$"

UNSTORABLE_MESSAGE = "must not contain NUL (U+0000) or unpaired surrogate characters"


def unstorable_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored, or ``None`` when it can."""
    if "\x00" in value:
        return UNSTORABLE_MESSAGE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return UNSTORABLE_MESSAGE
    return None


def is_storable(value: str) -> bool:
    return unstorable_reason(value) is None


@dataclass(frozen=True, slots=True)
class Storable:
    """``Annotated`` marker of a storable string; ``strip`` trims surrounding white space
    (after the length limits, which thus apply to the text as sent), ``blank`` says whether
    nothing but white space is allowed; ``pattern`` replaces the JSON schema's pattern (it
    must exclude NUL too)."""

    strip: bool = False
    blank: bool = True
    pattern: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern or (
            NO_NUL_PATTERN if self.blank else NOT_BLANK_PATTERN
        )
        if not self.blank:
            json_schema.setdefault("minLength", 1)
        return json_schema

    def _validate(self, value: str) -> str:
        reason = unstorable_reason(value)
        if reason is not None:
            raise PydanticCustomError("text_unstorable", reason)
        if self.strip:
            value = value.strip(WHITESPACE)
        if not self.blank and not value.strip(WHITESPACE):
            raise PydanticCustomError("text_blank", "must not be blank")
        return value


#: Any text of a domain input: no NUL, no unpaired surrogates.
Text = Annotated[str, Storable()]
