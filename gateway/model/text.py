"""Text a caller may send: bounded length and no control characters.

Every string of an inbound model that the store or a provider receives is one of these types,
and path and query parameters are checked with the same rule, so a NUL, an escape sequence or a
lone surrogate is a 4xx naming where it was, never a store error (PostgreSQL refuses NUL) nor
bytes forwarded to a provider. Free text (remarks, instructions) may span lines: tab, line
feed and carriage return are allowed there and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, ValidationInfo

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
# And surrogates, which UTF-8 cannot carry (nor a JSON document a pattern applies to).
_CONTROL = re.compile("[" + CONTROL_CHARACTERS + r"\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


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


def _clean(
    multiline: bool = False, max_length: int | None = None
) -> Callable[[str, ValidationInfo], str]:
    # `max_length` here, not in StringConstraints, for limits newer than the data they guard.
    def check(value: str, info: ValidationInfo) -> str:
        if from_store(info):
            return value
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"must have at most {max_length} characters, not {len(value)}")
        if where := control_character(value, multiline=multiline):
            raise ValueError(f"must not contain control characters ({where})")
        return value

    return check


_LINE = AfterValidator(_clean())
_LINES = AfterValidator(_clean(multiline=True))


def _line(max_length: int) -> Any:
    return StringConstraints(min_length=1, max_length=max_length)


ShortText = Annotated[str, _line(64), _LINE]
"""Identifiers and short labels: external ids, SKUs, tags, metadata keys, filters."""
Text = Annotated[str, _line(200), _LINE]
"""One line of human text: names, address lines, cities."""
PostalCode = Annotated[str, _line(16), _LINE]
Email = Annotated[str, AfterValidator(_clean(max_length=254))]
MAX_METADATA_VALUE = 500
MetadataText = Annotated[str, AfterValidator(_clean(max_length=MAX_METADATA_VALUE))]
"""A metadata value: up to 500 characters (an empty string is a value too)."""
LongText = Annotated[str, _line(2000), _LINES]
"""Free text that may span lines: a return's remarks and handling instructions."""
