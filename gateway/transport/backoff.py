"""Pure maths of waiting: backoff delays and Retry-After parsing. No I/O, no sleeping."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from typing import Literal

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses the transport retries by itself; 500 is not among them."""


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    floor: float = 0.0,
    jitter: Literal["full", "equal"] = "full",
) -> float:
    """Exponential backoff under the ceiling min(cap, base·2^(attempt-1)), at least `floor`.

    `attempt` counts from 1 (the delay after the first failure). `floor` is a Retry-After the
    provider gave: never retry sooner than it asked. Full jitter (uniform(0, ceiling)) spreads
    callers retrying at once the most; equal jitter (ceiling/2 + uniform(0, ceiling/2)) never
    retries sooner than half the ceiling, so a queue of rows drains steadily.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    if jitter == "equal":
        return max(floor, float(ceiling / 2 + rng.uniform(0, ceiling / 2)))
    return max(floor, rng.uniform(0.0, ceiling))


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    A date in the past means "now" (0). Anything unparseable gives None, so the caller falls
    back to its own backoff rather than trusting garbage.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means GMT too
        return None
    return max(0.0, when.timestamp() - now)
