"""Types of query parameters, shared by every list endpoint's query model.

A query model both documents its parameters in `/openapi.json` and parses them
(`gateway.api.params.read_query`), so what is documented is what is enforced. Values arrive as
strings and are parsed strictly: decimal digits only for counts and cursors (no sign, no
`²`, no 5000-digit numbers), date-times with a zone that are representable in UTC, and cursors
that decode to an id this API issued.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BeforeValidator

from gateway.model.orders import Instant
from gateway.model.text import ULID_PATTERN

MAX_SEQUENCE = 2**63 - 1
"""The largest event cursor (`after`): a signed 64-bit integer in both stores."""
_DIGITS = re.compile(r"[0-9]{1,19}")  # 19 digits hold MAX_SEQUENCE; range checks do the rest


def _count(value: Any) -> Any:
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number written in at most 19 decimal digits")
        return int(value)
    return value


def _iso(value: Any) -> Any:
    # ISO-8601 only: pydantic alone would also read a number as seconds since 1970.
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time with a time zone") from None


Count = Annotated[int, BeforeValidator(_count)]
"""A non-negative integer parameter; its range is the field's `ge`/`le`."""
Since = Annotated[Instant, BeforeValidator(_iso)]
"""An ISO-8601 date-time with a zone whose instant lies in UTC's range."""


def encode_cursor(last_id: str) -> str:
    """The opaque `next_cursor` of a page that ends with `last_id`."""
    return base64.urlsafe_b64encode(orjson.dumps({"b": last_id})).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str | None:
    """The id a cursor of `encode_cursor` carries, if it is one of this API's ids."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    value = data.get("b") if isinstance(data, dict) else None
    # Exactly an id's shape: the decoded value goes into a store query.
    if isinstance(value, str) and re.fullmatch(prefix + ULID_PATTERN, value):
        return value
    return None


def _cursor(prefix: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        before = decode_cursor(value, prefix)
        if before is None:
            raise ValueError("is not a cursor this API returned")
        return before

    return check


OrderCursor = Annotated[str, AfterValidator(_cursor("ord_"))]
"""`next_cursor` of an order list; parsed, it is the id the next page starts below."""
ReturnCursor = Annotated[str, AfterValidator(_cursor("ret_"))]
"""`next_cursor` of a return list; parsed, it is the id the next page starts below."""
