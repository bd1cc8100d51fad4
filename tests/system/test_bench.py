"""`make bench` must not rot: a tiny run through the real processes, checked for what it reports.

No timing is asserted (the machine decides those); counts, errors and duplicates are facts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.__main__ import run
from bench.report import markdown

pytestmark = pytest.mark.system


async def test_a_small_bench_run_reports_every_side_without_errors(tmp_path: Path) -> None:
    args = argparse.Namespace(
        orders=40, orders_c1=6, concurrency=8, max_seconds=60.0, profile=False
    )
    results = await run(args, tmp_path)

    for mode, sent in (("c=1", 6), ("c=8", 40)):
        for side in ("direct", "gateway", "floor", "replay"):
            assert results[mode][side]["requests"] == sent, (mode, side, results[mode][side])
            assert results[mode][side]["errors"] == 0, (mode, side)
    # 20 warm-up orders per creating side (direct, gateway, floor) and mode, plus the measured
    # ones; replays create nothing.
    assert results["provider_orders"] == 3 * (20 + 6) + 3 * (20 + 40)
    assert results["duplicates"] == 0
    results["meta"] = {"seconds": 1.0}
    text = markdown(results)
    assert "| c=8 | gateway | 40 | 0 |" in text
    assert "| c=8 | floor | 40 | 0 |" in text
