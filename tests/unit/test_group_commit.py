"""`GroupCommitWriter`: shared commits, isolated failures, durability before return, and waiting
for another process's write lock off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gateway.store.group_commit import COUNTS, LINGER_S, GroupCommitWriter


@pytest.fixture
async def writer(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = GroupCommitWriter(tmp_path / "w.db")
    async with w.transaction() as db:
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    yield w
    await w.close()


async def settled(writer: GroupCommitWriter) -> None:
    """Until the open batch is committed: a batch nobody waits for lingers `LINGER_S` first."""
    deadline = time.monotonic() + 10
    while writer._batch is not None or writer._committers:
        assert time.monotonic() < deadline, "the open batch was never committed"
        await asyncio.sleep(LINGER_S)


def committed(path: Path) -> set[str]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return {r[0] for r in other.execute("SELECT k FROM t")}


async def test_each_transaction_is_committed_before_it_returns(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    async def put(k: str) -> set[str]:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES (?)", (k,))
        return committed(tmp_path / "w.db")

    seen = await asyncio.gather(*(put(f"k{i}") for i in range(30)))
    for i, rows in enumerate(seen):
        assert f"k{i}" in rows


async def test_concurrent_transactions_share_commits(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    commits = 0
    conn = writer._conn

    def trace(sql: str) -> None:
        nonlocal commits
        commits += sql == "COMMIT"

    conn.set_trace_callback(trace)

    async def put(k: str) -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES (?)", (k,))
            await asyncio.sleep(0)  # a body that awaits, as the store's do

    await asyncio.gather(*(put(f"k{i}") for i in range(40)))
    assert committed(tmp_path / "w.db") == {f"k{i}" for i in range(40)}
    assert 1 <= commits < 40


async def test_a_failing_member_rolls_back_only_its_own_work(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    async def put(k: str, *, fail: bool = False) -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES (?)", (k,))
            if fail:
                raise RuntimeError("boom")

    results = await asyncio.gather(
        put("a"), put("b", fail=True), put("c"), put("d", fail=True), return_exceptions=True
    )
    assert [isinstance(r, RuntimeError) for r in results] == [False, True, False, True]
    assert committed(tmp_path / "w.db") == {"a", "c"}


async def test_the_first_member_failing_leaves_the_writer_usable(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    async def fail() -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES ('x')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    async with writer.transaction() as db:
        await db.execute("INSERT INTO t VALUES ('y')")
    assert committed(tmp_path / "w.db") == {"y"}


async def test_another_processes_write_lock_is_waited_for_off_the_loop(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES ('theirs')")

    async def mine() -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES ('mine')")

    task = asyncio.create_task(mine())
    await asyncio.sleep(0.2)  # the loop runs on while the writer waits; it neither fails nor
    assert not task.done()  # gives up (busy_timeout=0 inline, or a blocking wait, would)
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(task, 10)
    assert committed(tmp_path / "w.db") == {"theirs", "mine"}


async def test_a_caller_cancelled_while_waiting_for_the_lock_leaves_no_transaction_behind(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def mine() -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES ('cancelled')")

    task = asyncio.create_task(mine())
    await asyncio.sleep(0.1)  # waiting in the thread for the other process's lock
    task.cancel()
    await asyncio.sleep(0.1)
    other.execute("COMMIT")
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with writer.transaction() as db:  # the writer is usable: no stray BEGIN
        await db.execute("INSERT INTO t VALUES ('after')")
    assert committed(tmp_path / "w.db") == {"after"}


async def test_an_unawaited_transaction_returns_before_its_commit_and_commits_in_order(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('behind')")
    # Back before the COMMIT (the committer has not even run): others do not see it yet ...
    assert "behind" not in committed(tmp_path / "w.db")
    # ... but the writer's own later transactions do, and commit after it.
    async with writer.transaction() as db:
        seen = {r[0] for r in await db.fetch_all("SELECT k FROM t")}
        await db.execute("INSERT INTO t VALUES ('after')")
    assert "behind" in seen
    assert committed(tmp_path / "w.db") >= {"behind", "after"}


class FailingCommits:
    """The writer's connection, except that COMMIT fails (a full disk, say)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)


async def test_a_failed_commit_nobody_waits_for_is_consumed(
    writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))

    monkeypatch.setattr(writer, "_conn", FailingCommits(writer._conn))
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('lost')")
    await settled(writer)
    import gc  # noqa: PLC0415 (only here: an unretrieved exception is reported at collection)

    gc.collect()
    assert unretrieved == []
    monkeypatch.undo()
    async with writer.transaction() as db:  # the writer goes on after the failed batch
        await db.execute("INSERT INTO t VALUES ('next')")
        assert await db.fetch_all("SELECT k FROM t WHERE k = 'lost'") == []


async def test_commit_runs_inline_alone_and_in_the_thread_under_load(
    writer: GroupCommitWriter,
) -> None:
    threads: list[str] = []
    writer._conn.set_trace_callback(
        lambda sql: threads.append(threading.current_thread().name) if sql == "COMMIT" else None
    )

    async def put(k: str, spawn: int = 0) -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES (?)", (k,))
            # Arriving now, they queue behind this batch's committer: it sees them waiting.
            more = [asyncio.create_task(put(f"{k}-{i}")) for i in range(spawn)]
            await asyncio.sleep(0)
        await asyncio.gather(*more)

    await put("alone")
    assert threads == [threading.current_thread().name]  # nobody waited: no hand-off
    threads.clear()
    await put("busy", spawn=10)
    assert threads[0].startswith("sqlite-commit"), threads
    threads.clear()
    # Forty callers in one batch (nobody left waiting by the time it commits): in the thread.
    await asyncio.gather(*(put(f"k{i}") for i in range(40)))
    assert threads
    assert all(name.startswith("sqlite-commit") for name in threads), threads


async def test_a_write_nobody_waits_for_rides_the_next_waited_commit(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    commits = COUNTS.commits
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('answer')")
    assert committed(tmp_path / "w.db") == set()  # lingering: not committed on its own
    async with writer.transaction() as db:
        await db.execute("INSERT INTO t VALUES ('order')")
    assert committed(tmp_path / "w.db") == {"answer", "order"}
    assert COUNTS.commits - commits == 1


async def test_a_write_nobody_waits_for_is_committed_alone_after_its_linger(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('answer')")
    await settled(writer)
    assert committed(tmp_path / "w.db") == {"answer"}


async def test_close_commits_a_lingering_batch(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "w.db")
    async with w.transaction() as db:
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    async with w.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('answer')")
    await w.close()
    assert committed(tmp_path / "w.db") == {"answer"}


async def test_settled_commits_a_write_nobody_waits_for_at_once(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    commits = COUNTS.commits
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('done')")
    assert committed(tmp_path / "w.db") == set()  # lingering
    await writer.settled()  # a reader's turn: no lingering now
    assert committed(tmp_path / "w.db") == {"done"}
    assert COUNTS.commits - commits == 1
    await writer.settled()  # nothing open: returns at once, commits nothing
    assert COUNTS.commits - commits == 1


async def test_settled_does_not_wait_for_writes_whose_callers_wait(
    writer: GroupCommitWriter, tmp_path: Path
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def order() -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES ('order')")
            entered.set()
            await release.wait()

    task = asyncio.create_task(order())
    await entered.wait()
    # The open batch holds only a write its caller still waits for: nobody was answered
    # after it, so a reader need not wait for its commit (the lock is not even free).
    await asyncio.wait_for(writer.settled(), 1)
    assert committed(tmp_path / "w.db") == set()
    release.set()
    await task
    assert committed(tmp_path / "w.db") == {"order"}


async def test_settled_waits_for_a_batch_whose_commit_runs_in_the_thread(
    writer: GroupCommitWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread's COMMIT held until released: a batch that is no longer open but not yet
    # committed, as under load.
    release = threading.Event()
    real = writer._in_thread

    async def held(sql: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        await real(sql)

    monkeypatch.setattr(writer, "_in_thread", held)
    async with writer.transaction(wait=False) as db:
        await db.execute("INSERT INTO t VALUES ('done')")

    async def put(k: str) -> None:
        async with writer.transaction() as db:
            await db.execute("INSERT INTO t VALUES (?)", (k,))

    puts = [asyncio.create_task(put(f"k{i}")) for i in range(5)]  # > SMALL_BATCH: the thread
    while writer._batch is not None or not writer._committers:
        await asyncio.sleep(0)  # until the batch's COMMIT has left for the thread
    reader = asyncio.create_task(writer.settled())
    await asyncio.sleep(0.05)
    assert not reader.done()  # still committing: the reader waits
    release.set()
    await reader
    assert "done" in committed(tmp_path / "w.db")
    await asyncio.gather(*puts)
