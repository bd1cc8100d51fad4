"""Money and percentages: decimal strings, so that no float ever touches them.

`[0-9]`, not `\\d`: `\\d` also matches other scripts' digits ("١٩"), which providers would
receive. The OpenAPI document gives each type's pattern, the one enforced here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

DECIMAL_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
"""A non-negative decimal: up to 12 digits, up to 6 decimals."""
PERCENT_PATTERN = r"^(0{0,10}[0-9]{1,2}(\.[0-9]{1,6})?|0{0,9}100(\.0{1,6})?)$"
"""A `DECIMAL_PATTERN` between 0 and 100."""
_DECIMAL = re.compile(DECIMAL_PATTERN)
_PERCENT = re.compile(PERCENT_PATTERN)


def _decimal(pattern: re.Pattern[str], rule: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise ValueError('must be a decimal string such as "19.90", not a JSON number')
        if not _DECIMAL.match(value):
            raise ValueError("must be a non-negative decimal string with at most 6 decimals")
        if not pattern.match(value):
            raise ValueError(rule)
        return Decimal(value)

    return BeforeValidator(check)


_AS_STRING = PlainSerializer(str, return_type=str, when_used="json")
Money = Annotated[
    Decimal,
    _decimal(_DECIMAL, "must be a non-negative decimal"),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN, "examples": ["19.90"]}),
]
"""A non-negative decimal carried as a string on the wire."""
Percent = Annotated[
    Decimal,
    _decimal(_PERCENT, "must be between 0 and 100"),
    _AS_STRING,
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN, "examples": ["25.5"]}),
]
"""A `Money`-like decimal string between 0 and 100 (a tax rate)."""
