"""Types of query parameters, shared by every list endpoint's query model.

A query model both documents its parameters in `/openapi.json` and parses them
(`gateway.api.params.read_query`), so what is documented is what is enforced. Values arrive as
strings and are parsed strictly: decimal digits only for counts and event cursors (no sign,
no `²`, no 5000-digit numbers), RFC 3339 date-times with a zone that are representable in
UTC, and list cursors that are ids of the list's kind.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from gateway.model.dates import Instant
from gateway.model.text import ULID_PATTERN, Shape, Trimmed

MAX_SEQUENCE = 2**63 - 1
"""The largest event cursor (`after`): a signed 64-bit integer in both stores."""
_DIGITS = re.compile(r"[0-9]{1,19}")  # 19 digits hold MAX_SEQUENCE; range checks do the rest


def _count(value: Any) -> Any:
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number written in at most 19 decimal digits")
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_count)]
"""A non-negative integer parameter; its range is the field's `ge`/`le`."""
Since = Instant
"""An RFC 3339 date-time with a zone whose instant lies in UTC's range."""


def encode_cursor(last_id: str) -> str:
    """The `next_cursor` of a page that ends with `last_id`: that id, which the next page
    starts below. Any id of the list's kind is a cursor, so its shape is all a client must
    know (the document's pattern), and no value of that shape is refused."""
    return last_id


def _cursor(prefix: str, listing: str) -> Trimmed:
    return Trimmed(
        None,
        shape=Shape(f"{prefix}{ULID_PATTERN}", f"must be a next_cursor of {listing} (an id)"),
    )


OrderCursor = Annotated[str, _cursor("ord_", "GET /v1/orders")]
"""`next_cursor` of an order list: the id the next page starts below."""
ReturnCursor = Annotated[str, _cursor("ret_", "GET /v1/returns")]
"""`next_cursor` of a return list: the id the next page starts below."""


# The fields every list query declares, with their documented ranges (the document is the
# contract, so each is written once).
def page_limit(default: int, most: int) -> Any:
    """`limit`: how many items one page holds, 1 to `most`."""
    return Field(default=default, ge=1, le=most)


def page_cursor() -> Any:
    """`cursor` of an id-ordered list: absent for the first page."""
    return Field(default=None, description="`next_cursor` of the previous page")


def sequence_cursor(description: str) -> Any:
    """A cursor into a sequence (events, exchanges): 0, the start, to `MAX_SEQUENCE`."""
    return Field(default=0, ge=0, le=MAX_SEQUENCE, description=description)
