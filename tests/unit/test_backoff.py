"""Backoff maths and Retry-After parsing: pure functions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from gateway.transport.backoff import backoff_delay, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 10])
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int) -> None:
    rng = random.Random(7)
    ceiling = min(5.0, 0.1 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, base=0.1, cap=5.0, rng=rng) for _ in range(500)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.9  # full jitter uses the whole range
    assert min(delays) < ceiling * 0.1


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 10])
def test_equal_jitter_stays_in_the_upper_half_of_the_ceiling(attempt: int) -> None:
    rng = random.Random(7)
    ceiling = min(5.0, 0.1 * 2 ** (attempt - 1))
    delays = [
        backoff_delay(attempt, base=0.1, cap=5.0, rng=rng, jitter="equal") for _ in range(500)
    ]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.95
    assert min(delays) < ceiling * 0.55


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(1)
    assert all(backoff_delay(1, base=0.1, cap=5, rng=rng, floor=2.0) >= 2.0 for _ in range(100))
    equal = (
        backoff_delay(1, base=0.1, cap=5, rng=rng, floor=2.0, jitter="equal") for _ in range(100)
    )
    assert all(d >= 2.0 for d in equal)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", 0.0),
    ],
)
def test_delta_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_http_date_in_the_future() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert parse_retry_after(when, now=NOW) == pytest.approx(30, abs=1)


def test_http_date_in_the_past_means_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW - 300, UTC), usegmt=True)
    assert parse_retry_after(when, now=NOW) == 0.0
