"""`CircuitBreaker`: stop calling a provider that keeps failing, probe it after a cool-down.

closed ──(N consecutive failures, or failure ratio over the window)──▶ open
open ──(cool-down elapsed)──▶ half-open: exactly one probe call is let through
half-open ──probe succeeds──▶ closed      half-open ──probe fails──▶ open (new cool-down)

Failures are outcomes that say the provider is unwell: 5xx, timeouts, connection errors.
A 4xx is the provider working correctly and counts as success; a 429 counts as neither.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

import structlog

from gateway.clock import Clock
from gateway.errors import CircuitOpen

log = structlog.get_logger(__name__)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int,
        failure_ratio: float,
        window: int,
        cool_down_s: float,
        clock: Clock,
    ) -> None:
        self._provider = provider
        self._threshold = failure_threshold
        self._ratio = failure_ratio
        self._cool_down = cool_down_s
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._consecutive = 0
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._probe_out = False

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._cool_down_over():
            return CircuitState.HALF_OPEN
        return self._state

    def healthy(self) -> bool:
        """Routing may send here: closed, or half-open with the probe slot free."""
        state = self.state
        return state is CircuitState.CLOSED or (
            state is CircuitState.HALF_OPEN and not self._probe_out
        )

    def before_call(self) -> None:
        """Admit a call or raise `CircuitOpen`."""
        if self._state is CircuitState.CLOSED:
            return
        if self._state is CircuitState.OPEN:
            if not self._cool_down_over():
                raise CircuitOpen(self._provider, "circuit open: provider failing, not called")
            self._transition(CircuitState.HALF_OPEN)
        if self._probe_out:
            raise CircuitOpen(self._provider, "circuit half-open: a probe call is in flight")
        self._probe_out = True

    def record_success(self) -> None:
        self._consecutive = 0
        self._outcomes.append(True)
        if self._state is CircuitState.HALF_OPEN:
            self._outcomes.clear()
            self._probe_out = False
            self._transition(CircuitState.CLOSED)

    def record_failure(self) -> None:
        self._consecutive += 1
        self._outcomes.append(False)
        if self._state is CircuitState.HALF_OPEN:
            self._probe_out = False
            self._open()
        elif self._state is CircuitState.CLOSED and self._should_open():
            self._open()

    def record_neutral(self) -> None:
        """An outcome that says nothing about health (429): frees a half-open probe slot."""
        if self._state is CircuitState.HALF_OPEN:
            self._probe_out = False

    def _should_open(self) -> bool:
        if self._consecutive >= self._threshold:
            return True
        window = self._outcomes
        if window.maxlen is not None and len(window) == window.maxlen:
            return window.count(False) / len(window) >= self._ratio
        return False

    def _open(self) -> None:
        self._opened_at = self._clock.monotonic()
        self._transition(CircuitState.OPEN)

    def _cool_down_over(self) -> bool:
        return self._clock.monotonic() - self._opened_at >= self._cool_down

    def _transition(self, to: CircuitState) -> None:
        if to is not self._state:
            log.warning(
                "provider.circuit." + to.value,
                provider=self._provider,
                consecutive_failures=self._consecutive,
            )
            self._state = to
