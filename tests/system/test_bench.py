"""`make bench` must not rot: a tiny run through the real processes, checked for what it reports.

No timing is asserted (the machine decides those); counts, errors and duplicates are facts.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from bench.__main__ import gateway_config, run
from bench.profiles import PySpy, pyspy_top
from bench.report import markdown
from gateway.config_load import parse

pytestmark = pytest.mark.system


async def test_a_small_bench_run_reports_every_side_without_errors(tmp_path: Path) -> None:
    args = argparse.Namespace(
        orders=40,
        orders_c1=6,
        concurrency=8,
        max_seconds=60.0,
        profile=False,
        py_spy=False,
        store=None,
        skip_c1=False,
        no_audit=False,
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


def test_py_spy_samples_come_out_as_shares_by_thread_self_and_gateway_code(tmp_path: Path) -> None:
    raw = tmp_path / "gateway.pyspy"
    raw.write_text(
        "thread (1): MainThread;<module> (/x/gateway/__main__.py:1);"
        "submit (/x/gateway/orders/service.py:80);execute (/x/gateway/store/group_commit.py:60) 6\n"
        "thread (1): MainThread;<module> (/x/gateway/__main__.py:1);"
        "select (/usr/lib/python3.11/selectors.py:451) 2\n"
        "thread (2): sqlite-commit_0;run (/usr/lib/python3.11/concurrent/futures/thread.py:58) 2\n"
    )
    rows = pyspy_top(raw)

    assert rows[0] == "10 samples"
    assert " 80.0%  MainThread" in rows
    assert " 20.0%  sqlite-commit_0" in rows
    areas = rows[rows.index(next(r for r in rows if r.startswith("-- by area"))) + 1 :]
    assert " 60.0%  sqlite (statements, inline commits)" in areas
    assert " 20.0%  asyncio" in areas
    assert " 20.0%  sqlite commit thread" in areas
    assert " 60.0%  execute (/x/gateway/store/group_commit.py)" in rows
    gateway_part = rows[rows.index("-- inclusive, gateway code") + 1 :]
    assert " 60.0%  submit (/x/gateway/orders/service.py)" in gateway_part
    assert not any("__main__" in row for row in gateway_part)  # the whole run says nothing


async def test_py_spy_missing_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench.profiles.shutil.which", lambda *_a, **_k: None)
    spy = PySpy(pid=1, out=tmp_path / "x")
    await spy.start()
    await spy.stop()
    assert spy.error is not None
    assert "not installed" in spy.error


@pytest.mark.parametrize("audit", [True, False])
def test_no_audit_runs_the_gateway_without_its_exchanges(audit: bool, tmp_path: Path) -> None:
    text = gateway_config(f"sqlite:///{tmp_path}/bench.db", "http://127.0.0.1:1", audit=audit)
    env = {"BENCH_KEY": "k", "LT_ID": "i", "LT_SECRET": "s"}
    settings = parse(tomllib.loads(text), env)
    assert settings.audit.enabled is audit
