"""Text a caller may send: bounded length, no control characters, trimmed — and documented.

Every string of an inbound model that the store or a provider receives is one of these types,
and path and query parameters are checked with the same rule, so a NUL, an escape sequence or a
lone surrogate is a 4xx naming where it was, never a store error (PostgreSQL refuses NUL) nor
bytes forwarded to a provider. Free text (remarks, instructions) may span lines: tab, line
feed and carriage return are allowed there and nowhere else.

A value is taken as sent, then trimmed: its length (`minLength`/`maxLength` in the OpenAPI
document) counts what was sent, the rest of the rules the trimmed value. Each type documents
what it enforces as a `pattern` of the sent value (surrounding whitespace, then the trimmed
value), so a client generated from `/openapi.json` sends nothing these refuse; a unit test
checks each pattern against its validator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

STORED: Mapping[str, bool] = {"stored": True}
"""Validation context for bodies the gateway stored itself: they were accepted under the rules
of their day, so a rule added later (these checks, the metadata limits) is not applied to them
again — an order accepted before still submits, changes and returns."""

ULID_PATTERN = "[0-9A-HJKMNP-TV-Z]{26}"
"""The part after `ord_`/`ret_` of a gateway id (a ULID in Crockford base32)."""
SUBSCRIBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""What a subscriber's `id` is (in the configuration, in a path, in a filter)."""

CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
"""C0 controls, DEL and C1 controls, as a regular expression's character range (the same in
Python and in the ECMA-262 patterns of the OpenAPI document)."""
_LINE_BREAKS_ALLOWED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
"""The controls free text refuses: all but tab, line feed and carriage return."""
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What `str.strip()` removes (Unicode white space), as a character range."""
# And surrogates, which UTF-8 cannot carry (nor a JSON document a pattern applies to).
_CONTROL = re.compile("[" + CONTROL_CHARACTERS + r"\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile("[" + _LINE_BREAKS_ALLOWED + r"\ud800-\udfff]")
_VISIBLE = f"[^{CONTROL_CHARACTERS}{SPACE}]"
"""A character a trimmed value may begin and end with."""


def from_store(info: ValidationInfo) -> bool:
    """True when the model is being read back from the store (see `STORED`)."""
    context = info.context
    return isinstance(context, Mapping) and bool(context.get("stored"))


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is refused (`U+0000 at position 3`), or None when it is clean."""
    found = (_CONTROL_BUT_LINES if multiline else _CONTROL).search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start()}"


def sent_as(trimmed: str) -> str:
    """The pattern of a sent value whose trimmed value matches `trimmed` (which must begin and
    end with a character `str.strip()` keeps)."""
    return f"^[{SPACE}]*(?:{trimmed})[{SPACE}]*$"


def free_text(*, multiline: bool = False, empty: bool = False) -> str:
    """The pattern, before `sent_as`, of a trimmed value without control characters."""
    inner = f"[^{_LINE_BREAKS_ALLOWED if multiline else CONTROL_CHARACTERS}]"
    text = f"{_VISIBLE}(?:{inner}*{_VISIBLE})?"
    return f"(?:{text})?" if empty else text


class Documented:
    """JSON-schema keywords for what a validator enforces and pydantic cannot see."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(self.keywords)
        return out


class Shape:
    """A rule for the trimmed value beyond "no control characters": its regular expression
    (also the documented one) and what a value that breaks it is told."""

    def __init__(self, pattern: str, message: str) -> None:
        self.pattern = pattern
        self.message = message
        self._regex = re.compile(pattern)

    def fits(self, value: str) -> bool:
        return self._regex.fullmatch(value) is not None


class Trimmed(Documented):
    """A text type's rule: `min_length`–`max_length` characters as sent (None: no limit), no
    control characters (but line breaks where `multiline`), then trimmed; `shape`, if any,
    is the rule of the trimmed value. Documented as lengths and the pattern of the sent value.

    Not applied to what the store gives back (see `STORED`)."""

    def __init__(
        self,
        max_length: int | None,
        *,
        min_length: int = 1,
        multiline: bool = False,
        shape: Shape | None = None,
    ) -> None:
        self.max_length, self.min_length = max_length, min_length
        self.multiline, self.shape = multiline, shape
        rule = shape.pattern if shape else free_text(multiline=multiline, empty=not min_length)
        lengths = {"minLength": min_length} if min_length else {}
        if max_length is not None:
            lengths["maxLength"] = max_length
        super().__init__(**lengths, pattern=sent_as(rule))

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def _check(self, value: str, info: ValidationInfo) -> str:
        if from_store(info):
            return value
        if len(value) < self.min_length:
            raise PydanticCustomError(
                "string_too_short",
                "String should have at least {min_length} character",
                {"min_length": self.min_length},
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": self.max_length},
            )
        value = value.strip()
        if self.min_length and not value:
            raise PydanticCustomError("string_blank", "String should not be only white space")
        if where := control_character(value, multiline=self.multiline):
            raise ValueError(f"must not contain control characters ({where})")
        if self.shape is not None and not self.shape.fits(value):
            raise ValueError(self.shape.message)
        return value


ShortText = Annotated[str, Trimmed(64)]
"""Identifiers and short labels: external ids, SKUs, tags, metadata keys, filters."""
Text = Annotated[str, Trimmed(200)]
"""One line of human text: names, address lines, cities."""
PostalCode = Annotated[str, Trimmed(16)]
_NOT_AT = f"[^@{CONTROL_CHARACTERS}{SPACE}]"
_EMAIL = Shape(
    f"{_NOT_AT}{{1,64}}@{_NOT_AT}+\\.{_NOT_AT}{{2,}}",
    "must be an e-mail address such as name@example.com",
)
Email = Annotated[str, Trimmed(254, shape=_EMAIL)]
MAX_METADATA_VALUE = 500
METADATA_TEXT = Trimmed(MAX_METADATA_VALUE, min_length=0)
"""The rule of a metadata string (an empty one is a value too)."""
MetadataText = Annotated[str, METADATA_TEXT]
"""A metadata value: up to 500 characters (an empty string is a value too)."""
LongText = Annotated[str, Trimmed(2000, multiline=True)]
"""Free text that may span lines: a return's remarks and handling instructions."""

ORDER_ID = f"ord_{ULID_PATTERN}"
OrderId = Annotated[
    str, Trimmed(None, shape=Shape(ORDER_ID, "must be an order's gateway id (ord_…)"))
]
SubscriberId = Annotated[
    str,
    Trimmed(
        None,
        shape=Shape(SUBSCRIBER_ID_PATTERN[1:-1], "must be a subscriber id of the configuration"),
    ),
]
