"""RetryAfterGate and CircuitBreaker, each alone on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import CircuitOpen, RateLimited
from gateway.transport.circuit import CircuitBreaker, CircuitState
from gateway.transport.gate import RetryAfterGate
from tests.unit.fakes import FakeClock


async def test_gate_makes_every_waiter_wait_until_it_opens() -> None:
    clock = FakeClock()
    gate = RetryAfterGate("p", ceiling_s=60, clock=clock)
    gate.close_for(2)
    start = clock.monotonic()
    await asyncio.gather(gate.wait(), gate.wait(), gate.wait())
    assert clock.monotonic() - start >= 2


async def test_gate_only_moves_later_and_respects_the_ceiling() -> None:
    clock = FakeClock()
    gate = RetryAfterGate("p", ceiling_s=10, clock=clock)
    gate.close_for(5)
    gate.close_for(1)
    assert gate.remaining() == pytest.approx(5)
    assert gate.close_for(3600) == 10
    assert gate.remaining() == pytest.approx(10)


async def test_gate_wait_past_deadline_raises_rate_limited() -> None:
    clock = FakeClock()
    gate = RetryAfterGate("p", ceiling_s=60, clock=clock)
    gate.close_for(30)
    with pytest.raises(RateLimited) as info:
        await gate.wait(deadline=clock.monotonic() + 5)
    assert info.value.retry_after == pytest.approx(30)


def _breaker(clock: FakeClock, **kw: float) -> CircuitBreaker:
    args = {"failure_threshold": 3, "failure_ratio": 0.5, "window": 10, "cool_down_s": 30.0}
    args.update(kw)
    return CircuitBreaker("p", clock=clock, **args)  # type: ignore[arg-type]


def test_circuit_opens_after_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.healthy()
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_circuit_opens_on_failure_ratio_over_a_full_window() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failure_threshold=100, window=10, failure_ratio=0.5)
    for i in range(10):
        breaker.before_call()
        breaker.record_failure() if i % 2 else breaker.record_success()
    assert breaker.state is CircuitState.OPEN


def test_success_resets_consecutive_count() -> None:
    breaker = _breaker(FakeClock(), failure_ratio=1.0)  # isolate the consecutive rule
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_half_open_after_cool_down_admits_exactly_one_probe() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.healthy()
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    breaker.before_call()


def test_failed_probe_reopens_for_a_new_cool_down() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.advance(29)
    assert breaker.state is CircuitState.OPEN
    clock.advance(1)
    assert breaker.state is CircuitState.HALF_OPEN


def test_neutral_outcome_frees_the_probe_slot() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    breaker.before_call()
    breaker.record_neutral()
    breaker.before_call()  # a new probe may go
