"""The clock the gateway waits on: `wait_for`, the background `Loops`, and the tests' clocks."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from gateway.clock import SystemClock, wait_for
from gateway.workers.loops import Loops
from tests.unit.fakes import FakeClock, SkipAheadClock


async def test_wait_for_answers_before_the_clock_runs_out() -> None:
    async def answer() -> str:
        return "done"

    assert await wait_for(SystemClock(), answer(), 5.0) == "done"


async def test_wait_for_times_out_by_the_clock_and_cancels_the_wait() -> None:
    never = asyncio.get_running_loop().create_future()
    clock = SkipAheadClock()
    waiting = asyncio.create_task(wait_for(clock, never, 60.0))
    while not clock.sleepers:
        await asyncio.sleep(0)
    started = time.monotonic()
    await clock.advance(60.0)
    with pytest.raises(TimeoutError):
        await waiting
    assert never.cancelled()
    assert time.monotonic() - started < 5  # a minute of the clock, not of real time


async def test_wait_for_raises_what_the_awaited_raises() -> None:
    async def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await wait_for(FakeClock(), broken(), 1.0)


async def test_a_loop_runs_one_round_per_interval_the_clock_skips() -> None:
    clock = SkipAheadClock()
    rounds: list[float] = []

    async def job() -> None:
        rounds.append(clock.monotonic())
        await asyncio.sleep(0.01)  # a round takes real time (I/O): the skip waits for it

    loops = Loops(clock)
    loops.start("counting", job, 10.0)
    await clock.sleeping("counting")
    assert len(rounds) == 1  # at start

    await clock.advance(35.0)

    assert len(rounds) == 4  # at 10, 20 and 30 s
    assert [round(b - a) for a, b in itertools.pairwise(rounds)] == [10, 10, 10]
    await loops.stop()


async def test_stopping_cancels_a_waiting_loop_and_lets_a_running_job_finish() -> None:
    clock = SkipAheadClock()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow() -> None:
        await release.wait()
        finished.append("slow")

    async def quick() -> None:
        finished.append("quick")

    loops = Loops(clock)
    loops.start("slow", slow, 3600.0)
    loops.start("quick", quick, 3600.0)
    await clock.sleeping("quick")
    stopping = asyncio.create_task(loops.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # the slow job is still running
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ["quick", "slow"]


async def test_a_failing_round_does_not_end_the_loop() -> None:
    clock = SkipAheadClock()
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bad moment")

    loops = Loops(clock)
    loops.start("flaky", flaky, 1.0)
    await clock.sleeping("flaky")
    # Rounds come due 1 s after the previous one *ended*: the real time a round takes (here a
    # logged traceback) shifts the next one, so skip to halfway between rounds 3 and 4.
    await clock.advance(2.5)
    assert calls == 3
    await loops.stop()
