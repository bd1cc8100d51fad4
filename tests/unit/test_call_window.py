"""`CallWindow`: a call counts from its slot until a period after its answer (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.transport.window import CallWindow, window_of
from tests.integration.test_fleet import busiest_window
from tests.unit.fakes import FakeClock


async def test_a_call_keeps_its_place_until_a_period_after_its_answer() -> None:
    clock = FakeClock(start=1000.0)
    window = CallWindow(2, 1.0, clock=clock)
    a = await window.acquire(longest_s=5)
    b = await window.acquire(longest_s=5)
    clock.advance(0.3)  # on their way for 0.3 s: the provider may have counted them at 1000.3
    a.release()
    b.release()

    await window.acquire(longest_s=5)

    # Not at 1001.0 (a period after the slots): the provider could count 4 in 1000.3–1001.3.
    assert clock.monotonic() == pytest.approx(1001.3)


async def test_a_call_never_answered_counts_as_long_as_it_could_take() -> None:
    clock = FakeClock(start=1000.0)
    window = CallWindow(1, 1.0, clock=clock)
    await window.acquire(longest_s=5)  # never released

    await window.acquire(longest_s=5)

    assert clock.monotonic() >= 1006.0


async def test_no_window_of_a_period_holds_more_than_the_limit() -> None:
    clock = FakeClock(start=1000.0)
    window = CallWindow(5, 1.0, clock=clock)
    sent: list[float] = []

    async def call() -> None:
        slot = await window.acquire(longest_s=5)
        sent.append(clock.monotonic())
        await asyncio.sleep(0)
        slot.release()

    await asyncio.gather(*(call() for _ in range(20)))

    assert len(sent) == 20
    # A leaky bucket of 5 per second lets 9 into the first second.
    assert busiest_window(sent, 1.0) == 5


def test_a_share_is_whole_calls_per_period_rounded_down() -> None:
    assert window_of(50 / 3, 1.0) == (16, 1.0)  # three replicas never add up to more than 50
    assert window_of(0.25, 1.0) == (1, 4.0)
