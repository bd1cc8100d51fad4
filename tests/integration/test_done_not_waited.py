"""An order sent by its request costs one durable commit: its `done` step (and the key's
stored answer) ride the next group commit instead of an fsync of their own before the 201.

The guarantees that stay: a reader sees the `done` as soon as the caller was answered (it
waits for that commit), and a crash that loses the step leaves the order `creating`, which
recovery reconciles by looking it up at the provider — one provider order, never two. A
lingering batch is held open here (`LINGER_S` an hour) so that what "not yet committed"
means does not depend on timing.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.store import group_commit
from tests.conftest import SandboxHandle, auth, eventually, order, order_calls, ref
from tests.unit.fakes import SkipAheadClock


@pytest.fixture(autouse=True)
def lingering(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch nobody waits for stays open until a waited write or a reader commits it."""
    monkeypatch.setattr(group_commit, "LINGER_S", 3600.0)


def committed_phase(db: Path, order_id: str) -> str:
    """The order's phase as another connection sees it: committed data only."""
    with sqlite3.connect(db) as other:
        row = other.execute("SELECT phase FROM orders WHERE id = ?", (order_id,)).fetchone()
    return str(row[0])


async def submit(gateway: TestClient[Any, Any], external_id: str) -> dict[str, Any]:
    resp = await gateway.post(
        "/v1/orders", json=order(external_id), headers=auth(key=f"k-{external_id}")
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["status"] == "submitted"
    return body


async def test_the_done_step_is_not_waited_for_and_a_reader_sees_it_at_once(
    gateway: TestClient[Any, Any], tmp_path: Path
) -> None:
    db = tmp_path / "gateway.db"
    placed = await submit(gateway, "NW-1")
    # Answered 201 while only the order as accepted (`creating`) is committed.
    assert committed_phase(db, placed["id"]) == "creating"
    resp = await gateway.get(f"/v1/orders/{placed['id']}", headers=auth())
    got = await resp.json()
    assert got["status"] == "submitted"
    assert got["provider_order_id"] == placed["provider_order_id"]
    assert committed_phase(db, placed["id"]) == "done"  # the read committed it first


async def test_the_next_order_commits_the_done_step_of_the_one_before(
    gateway: TestClient[Any, Any], tmp_path: Path
) -> None:
    db = tmp_path / "gateway.db"
    first = await submit(gateway, "NW-2")
    commits = group_commit.COUNTS.commits
    second = await submit(gateway, "NW-3")
    assert committed_phase(db, first["id"]) == "done"
    assert committed_phase(db, second["id"]) == "creating"
    assert group_commit.COUNTS.commits - commits == 1  # one fsync for the second order


async def test_a_crash_before_the_done_step_commits_is_reconciled_not_sent_again(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    clock: SkipAheadClock,
    tmp_path: Path,
) -> None:
    first: TestClient[Any, Any] = await make_gateway()
    placed = await submit(first, "NW-4")
    # What a power cut leaves now: the database and its WAL as committed (SQLite's recovery
    # ignores frames of a transaction that never committed).
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("gateway.db", "gateway.db-wal"):
        shutil.copy(tmp_path / name, crashed / name)
    assert committed_phase(crashed / "gateway.db", placed["id"]) == "creating"
    creates = order_calls(logitrail).count("create")

    second: TestClient[Any, Any] = await make_gateway(store__url=f"sqlite:///{crashed}/gateway.db")

    async def recovered() -> dict[str, Any] | None:
        resp = await second.get(f"/v1/orders/{placed['id']}", headers=auth())
        body: dict[str, Any] = await resp.json()
        return body if body["status"] == "submitted" else None

    # Once the dead request's lease runs out, the background loop takes the order over.
    got = await clock.skipping(eventually(recovered, timeout=30), step=1.0)
    assert got["provider_order_id"] == placed["provider_order_id"]
    assert order_calls(logitrail).count("create") == creates  # looked up, not sent again
    assert len(list(logitrail.sandbox.orders_by_merchant_order(ref("NW-4")))) == 1
