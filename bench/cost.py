"""What one side costs its own process per order: CPU (from /proc/<pid>/stat) and, for the
gateway on SQLite, the store's statements (from its `gateway_store_statements_total`).

CPU time is the number that does not move with the noise of a shared machine: a run on a busy
box is slower, but each order still costs its process the same user + system time (all its
threads, the commit thread included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_STORE_LINE = re.compile(r'^gateway_store_statements_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.M)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (every thread)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces: split after its closing parenthesis.
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime (fields 14, 15)


async def store_counts(http: aiohttp.ClientSession, gateway: str) -> dict[str, float]:
    async with http.get(f"{gateway}/metrics") as resp:
        text = await resp.text()
    return {kind: float(n) for kind, n in _STORE_LINE.findall(text)}


@dataclass
class Cost:
    """CPU seconds and store counts summed over the measured calls of one side."""

    orders: int = 0
    cpu_s: float = 0.0
    store: dict[str, float] = field(default_factory=dict)

    def add(self, orders: int, cpu: float, store: dict[str, float]) -> None:
        self.orders += orders
        self.cpu_s += cpu
        for kind, n in store.items():
            self.store[kind] = self.store.get(kind, 0.0) + n

    def summary(self) -> dict[str, Any]:
        per = max(self.orders, 1)
        return {
            "cpu_ms_per_order": self.cpu_s * 1e3 / per,
            **{f"{kind}_per_order": n / per for kind, n in sorted(self.store.items())},
        }


class Meter:
    """Measures what `pid` spends while one side's calls run (counts only from `gateway`)."""

    def __init__(self, pid: int, http: aiohttp.ClientSession, gateway: str | None) -> None:
        self.pid, self.http, self.gateway = pid, http, gateway

    async def around(self, cost: Cost, run: Callable[[], Awaitable[int]]) -> None:
        """`run()` returns how many orders it sent; the scrape is outside the CPU window."""
        before = await store_counts(self.http, self.gateway) if self.gateway else {}
        cpu = cpu_s(self.pid)
        orders = await run()
        cpu = cpu_s(self.pid) - cpu
        after = await store_counts(self.http, self.gateway) if self.gateway else {}
        cost.add(orders, cpu, {k: after[k] - before.get(k, 0.0) for k in after})
