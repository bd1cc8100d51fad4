"""Date-times and dates a caller sends: RFC 3339 strings, as the OpenAPI document says.

Only the RFC 3339 forms are read — `2026-05-01T12:00:00Z`, `2026-05-01T14:00:00.25+02:00`,
`2026-05-01` — never what pydantic alone would also take (a number as seconds since 1970, a
space for the `T`, a time without seconds or zone), so a value the document refuses is refused
here, and the other way round. An instant must also be one in UTC's range, which providers and
the store convert to: on the first and the last day of that range (0001-01-01, 9999-12-31) it
is given in UTC (`Z` or `±00:00`), as any other offset there may fall outside it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ValidationInfo

from gateway.model.text import Documented, from_store

_MONTH_DAY = "(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_UTC = "(?:Z|[+-]00:00)"
# Every day but the first and the last of the range, written without look-arounds (which
# not every validator of the document supports).
_INNER_DAY = (
    "(?:(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]"
    f"|999[0-8])-{_MONTH_DAY}"
    "|0001-(?:01-(?:0[2-9]|[12][0-9]|3[01])|(?:0[2-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
    "|9999-(?:(?:0[1-9]|1[01])-(?:0[1-9]|[12][0-9]|3[01])|12-(?:0[1-9]|[12][0-9]|30)))"
)
DATE_PATTERN = f"^{_YEAR}-{_MONTH_DAY}$"
DATE_TIME_PATTERN = f"^(?:{_INNER_DAY}{_TIME}{_OFFSET}|(?:0001-01-01|9999-12-31){_TIME}{_UTC})$"
"""An RFC 3339 date-time with a zone (at most microseconds, no leap second) in UTC's range."""
_ANY_DATE_TIME = re.compile(f"^{_YEAR}-{_MONTH_DAY}{_TIME}{_OFFSET}$")
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_DATE_TIME_MSG = "must be an RFC 3339 date-time with a time zone, such as 2026-05-01T12:00:00Z"
_RANGE_MSG = "must lie between 0001-01-01 and 9999-12-31 in UTC (on those two days, give it in UTC)"


def _instant_text(value: Any, info: ValidationInfo) -> Any:
    if from_store(info):
        return value
    if not isinstance(value, str) or not _ANY_DATE_TIME.match(value):
        raise ValueError(_DATE_TIME_MSG)
    if not _DATE_TIME.match(value):
        raise ValueError(_RANGE_MSG)
    return value


def _date_or_instant_text(value: Any, info: ValidationInfo) -> Any:
    if from_store(info) or (isinstance(value, str) and _DATE.match(value)):
        return value
    if isinstance(value, str) and _ANY_DATE_TIME.match(value):
        return _instant_text(value, info)
    raise ValueError("must be an RFC 3339 date (2026-05-01) or date-time with a time zone")


def _utc_instant(value: Any, info: ValidationInfo) -> Any:
    # What the store held before the rule above: still read, never converted out of range.
    if isinstance(value, datetime) and not from_store(info):
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(_RANGE_MSG) from None
    return value


_INSTANT_SCHEMA = {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_instant_text),
    AfterValidator(_utc_instant),
    Documented(**_INSTANT_SCHEMA),
]
"""A date-time with a time zone that is an instant in UTC's range."""
DateOrInstant = Annotated[
    AwareDatetime | date,
    BeforeValidator(_date_or_instant_text),
    AfterValidator(_utc_instant),
    Documented(
        anyOf=[_INSTANT_SCHEMA, {"type": "string", "format": "date", "pattern": DATE_PATTERN}]
    ),
]
"""A calendar date, or an `Instant`."""


def as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value
