"""Fault rules shared by every provider sandbox, and the registry of calls held until released.

A `Fault` names one of its sandbox's op names (or ``"*"``). A provider subclasses `Fault` to
set `ops`, so an unknown op is refused when the rule is built; a plain `Fault` is checked when
it is injected (`CallHarness.inject`).

Rules are matched against every recorded API call (not the control API) *before* the
operation runs, in injection order. The first rule whose `op` matches (or is ``"*"``), whose
`remaining` count is not exhausted and whose probability roll succeeds (seeded RNG) affects the
call and consumes one count; a rule whose roll fails does not consume its count and the next
rules are tried. Unknown routes (op ``"unknown"``) are never faulted.

What an affected call experiences (`Fault.effect`), in this order:

1. ``after=False``: sleep `delay_s`, then wait for `release()` if `hold`; then
   ``reset`` aborts the TCP connection, or ``status`` is answered without performing the op,
   otherwise the op is performed and answered normally.
2. ``after=True``: the op is performed first (its effect is committed), then sleep
   `delay_s`, wait if `hold`, then ``reset`` aborts the connection, or ``status`` replaces the
   op's real answer, otherwise the real answer is sent. This models "the provider did it but
   the answer never arrived".

`mix` picks one outcome per affected call, uniformly with the seeded RNG:

- an ``int`` answers that status (with `retry_after`/`body` if set) without performing the op;
- ``"timeout"`` performs the op, then sleeps `delay_s` (must be > 0) before answering
  normally, so a client whose timeout is shorter than `delay_s` gives up although the order
  WAS created.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

TIMEOUT = "timeout"


@dataclass
class Fault:
    """One fault rule (the module docstring says how rules are matched and applied).

    - `op`: the op it affects (one of the sandbox's `ops`) or ``"*"``.
    - `count`: how many affected calls before it is spent; None = unlimited. `remaining` is the
      live count (None when unlimited).
    - `probability`: chance that a matching call is affected (seeded); unaffected calls do not
      consume `count`.
    - `status`, `retry_after`, `body`: answer this status (with a ``Retry-After`` header and
      this JSON body, default the sandbox's own error body for the status) without
      performing the op; with `after`, the op IS performed and its answer replaced.
    - `delay_s`, `hold`, `reset`: sleep, wait for `release()`, abort the connection — before
      the op, or after it when `after` is set.
    - `mix`: per affected call pick one of its outcomes uniformly (seeded): an int status is
      answered without performing the op; ``"timeout"`` performs the op, then sleeps `delay_s`
      before answering normally, so a client with a shorter timeout gives up although the
      order WAS created. The other fields except `retry_after` and `body` are ignored.
    """

    op: str = "*"
    count: int | None = 1
    probability: float = 1.0
    status: int | None = None
    retry_after: str | None = None
    body: dict[str, object] | None = None
    delay_s: float = 0.0
    after: bool = False
    hold: bool = False
    reset: bool = False
    mix: list[int | str] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    remaining: int | None = field(init=False)

    ops: ClassVar[frozenset[str]] = frozenset()
    """The provider's op names, set by each sandbox's subclass; empty: checked at `inject`."""

    def __post_init__(self) -> None:
        if self.ops and self.op != "*" and self.op not in self.ops:
            raise ValueError(f"unknown op {self.op!r}; one of {sorted(self.ops)} or '*'")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 or None (unlimited)")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.mix is not None:
            if not self.mix:
                raise ValueError("mix must not be empty")
            for outcome in self.mix:
                if isinstance(outcome, bool) or not (
                    (isinstance(outcome, int) and 100 <= outcome <= 599) or outcome == TIMEOUT
                ):
                    raise ValueError(f"mix outcome {outcome!r} is neither a status nor 'timeout'")
            if TIMEOUT in self.mix and self.delay_s <= 0:
                raise ValueError("mix with 'timeout' needs delay_s > 0")
        self.remaining = self.count

    def matches(self, op: str) -> bool:
        """Whether this rule applies to `op` and still has calls to affect."""
        return self.op in ("*", op) and self.remaining != 0

    def effect(self, rng: random.Random) -> Fault:
        """What one affected call experiences: this rule, or for a `mix` a rule of the one
        outcome drawn from `rng`."""
        if self.mix is None:
            return self
        outcome = rng.choice(self.mix)
        if outcome == TIMEOUT:
            return Fault(self.op, None, delay_s=self.delay_s, after=True)
        assert isinstance(outcome, int)
        return Fault(self.op, None, status=outcome, retry_after=self.retry_after, body=self.body)


class FaultBook:
    """The ordered fault rules of one sandbox (its `ops`) and the seeded RNG of their rolls."""

    def __init__(self, seed: int, ops: frozenset[str]) -> None:
        self._rng = random.Random(seed)
        self.ops = ops
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Append a rule; `ValueError` if its op is not one of this sandbox's."""
        if fault.op != "*" and fault.op not in self.ops:
            raise ValueError(f"unknown op {fault.op!r}; one of {sorted(self.ops)} or '*'")
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, op: str) -> tuple[Fault, Fault] | None:
        """The first rule affecting this call (consuming one count), and its effect.

        Calls outside `ops` (unknown routes) are never faulted.
        """
        if op not in self.ops:
            return None
        for fault in self.faults:
            if not fault.matches(op):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault, fault.effect(self._rng)
        return None


class _Held:
    __slots__ = ("event", "op")

    def __init__(self, op: str) -> None:
        self.op = op
        self.event = asyncio.Event()


class Holds:
    """Calls blocked by a ``hold`` fault until `release()`; any number may be held at once."""

    def __init__(self) -> None:
        self._held: list[_Held] = []
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    async def hold(self, op: str) -> None:
        entry = _Held(op)
        self._held.append(entry)
        self._notify()
        try:
            await entry.event.wait()
        finally:
            self._held.remove(entry)

    def held(self, op: str = "*") -> int:
        """How many calls of `op` (``"*"``: any) are held and not yet released."""
        return sum(1 for h in self._held if op in ("*", h.op) and not h.event.is_set())

    def release(self, op: str | None = None) -> int:
        """Release the calls held now (all, or those of `op`); later calls hold again."""
        released = 0
        for entry in self._held:
            if (op in (None, "*") or entry.op == op) and not entry.event.is_set():
                entry.event.set()
                released += 1
        return released

    async def wait(self, op: str, n: int, timeout: float) -> None:  # noqa: ASYNC109
        if self.held(op) >= n:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (op, n, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(
                f"{self.held(op)} of {n} {op!r} calls held after {timeout}s"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def _notify(self) -> None:
        for op, n, future in self._waiters:
            if not future.done() and self.held(op) >= n:
                future.set_result(None)
