"""`LeasedRunner`: one renewal loop renews the lease of every row still running, stops asking
for a lease the store refused, and ends when nothing runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.config import SubmissionSettings
from gateway.submissions.leases import LeasedRunner
from tests.unit.fakes import SkipAheadClock

LEASE_S = 30.0


@dataclass(frozen=True)
class Row:
    id: str


class Runner(LeasedRunner[Row, None]):
    def __init__(self, clock: SkipAheadClock, refused: set[str]) -> None:
        super().__init__(None, {}, SubmissionSettings(lease_s=LEASE_S), owner="test", clock=clock)
        self.renewed: list[str] = []
        self.refused = refused
        self.finish = {name: asyncio.Event() for name in ("a", "b")}

    async def run(self, row: Row, lease: str) -> Row:
        await self.finish[row.id].wait()
        return row

    async def _renew(self, row_id: str, lease: str, until: float) -> bool:
        self.renewed.append(row_id)
        return row_id not in self.refused

    async def _release(self, row_id: str, lease: str) -> None:
        pass


async def test_one_loop_renews_every_running_row_until_none_runs() -> None:
    clock = SkipAheadClock()
    runner = Runner(clock, refused={"b"})
    a = runner.spawn(Row("a"), runner.new_lease())
    b = runner.spawn(Row("b"), runner.new_lease())
    await clock.sleeping("run:leases")
    await clock.advance(LEASE_S / 3)
    assert sorted(runner.renewed) == ["a", "b"]
    await clock.advance(LEASE_S / 3)
    assert sorted(runner.renewed) == ["a", "a", "b"]  # b's lease was refused: not asked again
    runner.finish["a"].set()
    runner.finish["b"].set()
    await asyncio.gather(a, b)
    await clock.advance(LEASE_S / 3)
    assert runner._renewer is not None
    assert runner._renewer.done()  # nothing runs: the loop ended
    assert sorted(runner.renewed) == ["a", "a", "b"]
    assert await runner.drain(0) == 0
