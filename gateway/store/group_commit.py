"""`GroupCommitWriter`: SQLite's one writer, with transactions that share their COMMIT.

Measured (`make bench`): with aiosqlite every statement is a hop to its thread and back, and a
transaction of five statements held the writer lock across five hops; at 32 concurrent orders
the gateway did ~190 orders/s while mostly idle. So statements run inline on the event-loop
thread (a statement on a page already in memory costs microseconds) and only what waits on
the disk or on another process — COMMIT (the fsync) while other transactions queue, and BEGIN
IMMEDIATE when another process holds the write lock — goes to one worker thread. A COMMIT
nobody else is waiting behind runs inline: at low load the thread hand-offs cost more than
the fsync they would overlap with.

Group commit: transactions that queue up behind one another share one COMMIT. The first opens
the batch; each later one runs in a SAVEPOINT (its failure rolls back only its own work); a
committer queued on the lock behind them commits the lot. Every caller waits for that COMMIT
before it goes on: nothing is answered or sent to a provider before it is durable — except
a write made with `wait=False`, whose loss a crash recovery repairs (an idempotency key's
stored answer, an order's `done`); a reader waits for those to commit (`settled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway.errors import StoreUnavailable

BUSY_TIMEOUT_MS = 5000
LINGER_S = 0.005
"""How long a batch opened by writes nobody waits for stays open for a waited one to join.

Measured (`make bench`, c=1): an idempotency key's stored answer committed on its own was a
third fsync per order; riding the next order's commit, it is two. At 2 ms the next order's
commit came too late for 20–40 % of answers on a busy 2-core box (2.2–2.8 COMMITs per order,
each an fsync inline on the loop); at 5 ms, 2.0–2.1."""
SMALL_BATCH = 3
"""A batch this small is one caller on its own: an order, its key's claim and the answer
stored by the order before it (which lingered for it)."""
PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=FULL",
    "foreign_keys=ON",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
)


class StatementCounts:
    """What this process's SQLite writers ran, for `make bench`'s statements per order (read at
    scrape time as `gateway_store_statements_total`; an increment is all they cost)."""

    __slots__ = ("commits", "reads", "statements", "transactions")

    def __init__(self) -> None:
        self.statements = 0
        """Statements in transaction bodies and inline reads (BEGIN/COMMIT/SAVEPOINT not)."""
        self.reads = 0
        """Reads on the reader connection (each a hop to its thread and back)."""
        self.transactions = 0
        self.commits = 0
        """COMMITs, each one fsync (`synchronous=FULL`): shared by a batch's transactions."""

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


COUNTS = StatementCounts()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    # Never wait for a lock on the event loop; `_begin_waiting` waits in the thread instead.
    conn.execute("PRAGMA busy_timeout=0")
    return conn


class Statements:
    """What a transaction body gets (a `Tx`): statements run inline inside the open transaction,
    their rows fetched to the end (a half-stepped statement would block the COMMIT)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        COUNTS.statements += 1
        return self._conn.execute(sql, args).rowcount

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        COUNTS.statements += 1
        self._conn.executemany(sql, rows)

    async def insert(self, sql: str, args: Sequence[Any], *, key: str) -> int:
        # The rowid: `key` is the table's INTEGER PRIMARY KEY (cheaper than RETURNING).
        COUNTS.statements += 1
        rowid = self._conn.execute(sql, args).lastrowid
        assert rowid is not None
        return rowid

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        COUNTS.statements += 1
        rows = self._conn.execute(sql, args).fetchall()
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        COUNTS.statements += 1
        return self._conn.execute(sql, args).fetchall()


class GroupCommitWriter:
    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._statements = Statements(self._conn)
        # One thread: BEGIN and COMMIT of one connection, never two at once.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._lock = asyncio.Lock()
        self._batch: asyncio.Future[None] | None = None
        """The COMMIT the open transaction's members wait for; None when none is open."""
        self._committers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._waiting = 0
        """Transactions (and reads) waiting for the lock: one half of the committer's gauge."""
        self._members = 0
        """Transactions in the open batch: the other half."""
        self._linger: asyncio.TimerHandle | None = None
        """The open batch's committer, due once `LINGER_S` is over (None: queued already)."""
        self._unsettled: asyncio.Future[None] | None = None
        """The newest batch that holds a write nobody waits for, until its COMMIT is over —
        open, or committing in the thread (see `settled`; batches commit in order)."""

    @asynccontextmanager
    async def transaction(self, *, wait: bool = True) -> AsyncIterator[Statements]:
        """One transaction; the caller goes on once its batch is durable — or at once, with
        `wait=False`, for a write whose loss a crash recovery repairs (its statements still run
        now, so everything after it, on any connection, sees it or waits for it)."""
        async with self._turn():
            if self._closed:
                raise StoreUnavailable("store is closed")
            COUNTS.transactions += 1
            batch = self._batch
            if batch is None:
                batch = await self._open_batch(commit_soon=wait)
                if not wait:
                    self._unsettled = batch
                try:
                    yield self._statements
                except BaseException:
                    # Alone in the batch so far: roll the whole transaction back.
                    self._batch = None
                    self._cancel_linger()
                    batch.set_result(None)
                    self._conn.execute("ROLLBACK")
                    raise
            else:
                self._conn.execute("SAVEPOINT member")
                self._members += 1
                if not wait:
                    self._unsettled = batch
                try:
                    yield self._statements
                except BaseException:
                    self._conn.execute("ROLLBACK TO member")
                    self._conn.execute("RELEASE member")
                    raise
                self._conn.execute("RELEASE member")
                if wait and self._linger is not None:
                    self._start_committer(batch)  # someone waits now: no lingering
        if wait:
            await asyncio.shield(batch)  # durable before the caller goes on
        else:
            batch.add_done_callback(_consume)

    async def settled(self) -> None:
        """Once what was written without waiting (`wait=False`) is committed: a reader on
        another connection then sees it. So a caller answered after such a write (an order's
        `done`) reads it back at once; the batch commits now instead of lingering."""
        batch = self._unsettled
        if batch is None or batch.done():
            return
        if batch is self._batch and self._linger is not None:
            self._start_committer(batch)
        with contextlib.suppress(StoreUnavailable):  # lost: the reader sees what is committed
            await asyncio.shield(batch)

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A SELECT on the writer's own connection, inline — no hop to a reader thread.

        It sees what the open batch wrote (committed within moments, or rolled back with it), so
        it suits a check that must not miss a write just made, like a natural key's owner.
        """
        async with self._turn():
            if self._closed:
                raise StoreUnavailable("store is closed")
            COUNTS.statements += 1
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(exc)) from exc

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The lock, for a transaction or a read, counted while it is waited for."""
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    async def _open_batch(self, *, commit_soon: bool) -> asyncio.Future[None]:
        """BEGIN a batch. `commit_soon`: its committer queues now, behind every transaction
        already waiting (they join the batch); else the batch lingers until a waited
        transaction joins it or `LINGER_S` passes."""
        try:
            try:
                # Inline: with no other process writing, BEGIN takes the lock at once.
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                await self._begin_waiting()  # another process writes: wait off the loop
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        loop = asyncio.get_running_loop()
        batch = loop.create_future()
        self._batch = batch
        self._members = 1
        if commit_soon:
            self._start_committer(batch)
        else:
            self._linger = loop.call_later(LINGER_S, self._start_committer, batch)
        return batch

    def _start_committer(self, batch: asyncio.Future[None]) -> None:
        self._cancel_linger()
        if self._batch is not batch:  # rolled back, or committed by close()
            return
        # Queued on the lock behind every transaction already waiting: they join this batch.
        task = asyncio.create_task(self._commit(batch))
        self._committers.add(task)
        task.add_done_callback(self._committers.discard)

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    async def _commit(self, batch: asyncio.Future[None]) -> None:
        async with self._lock:
            if self._batch is batch:  # else rolled back, or committed by close()
                await self._commit_open_batch()

    async def _commit_open_batch(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        COUNTS.commits += 1
        try:
            if self._waiting or self._members > SMALL_BATCH:
                await self._in_thread("COMMIT")  # under load: the loop serves others meanwhile
            else:
                # One caller on its own: the fsync inline costs less than the two thread
                # hand-offs around it (measured at c=1: p50 5.8 → 4.7 ms per order).
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            batch.set_exception(StoreUnavailable(str(exc)))
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        else:
            batch.set_result(None)

    async def _in_thread(self, sql: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self._io, self._conn.execute, sql)

    async def _begin_waiting(self) -> None:
        def begin() -> None:
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            finally:
                self._conn.execute("PRAGMA busy_timeout=0")

        done = asyncio.get_running_loop().run_in_executor(self._io, begin)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # The BEGIN goes on in the thread: wait for it (still holding the lock) and undo it,
            # or the connection would be left inside a transaction nobody owns.
            try:
                await done
            except sqlite3.Error:
                pass
            else:
                self._conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cancel_linger()
            if self._batch is not None:
                await self._commit_open_batch()
            self._conn.close()
        self._io.shutdown(wait=True)


def _consume(batch: asyncio.Future[None]) -> None:
    """A failed COMMIT nobody waits for is not an unretrieved-exception warning."""
    if not batch.cancelled():
        batch.exception()
