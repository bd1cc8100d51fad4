"""Time, injected: one `Clock`, built by the app and handed to everything that reads the time
or waits for it — the transport, the providers, the services, the submission driver and the
background loops — so that a test runs the gateway on a clock it moves on itself.

What the clock computes is waited for on the clock (`sleep`, `wait_for`): retries, leases,
intervals, a request's budget. A timeout that only bounds I/O (a socket, a provider's answer)
is real time, as the I/O is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall-clock epoch seconds (stored timestamps and HTTP-dates are wall time)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float) -> T:  # noqa: ASYNC109
    """`asyncio.wait_for` timed by `clock`: `aw`'s result, or `TimeoutError` (with `aw`
    cancelled) once `timeout` seconds of the clock have passed."""
    if type(clock) is SystemClock:
        # The system's clock is asyncio's own: its `wait_for` spares the timer task this
        # takes otherwise (about 9 µs on every submit that waits within its budget).
        return await asyncio.wait_for(aw, timeout)
    inner = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait((inner, timer), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        inner.cancel()
        raise
    finally:
        timer.cancel()
    if not inner.done():
        inner.cancel()
        await asyncio.wait((inner,))
        try:
            return inner.result()
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
    return inner.result()
