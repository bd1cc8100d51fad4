"""What the SQL store's queries are written against: a `Tx` to run them in, a `Runner` that
opens one, and the `Dialect` for what SQLite and PostgreSQL really do differently.

Queries are written once, with `?` placeholders (the PostgreSQL runner numbers them). The
runners are `sqlite.SqliteRunner` (statements inline through `GroupCommitWriter`, reads on a
second connection) and `postgres.PostgresRunner` (an asyncpg pool).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Literal, Protocol

Lock = Literal["migrations", "outbox"]
Migration = tuple[int, str, str]
"""(version, name, SQL) of a `NNN_name.sql` file."""


def sql_list(values: Iterable[str]) -> str:
    """Fixed values (the store's own constants) as an SQL list: `('a', 'b')`."""
    return "('" + "', '".join(sorted(values)) + "')"


class Row(Protocol):
    """A result row: by column name or position (`sqlite3.Row`, `asyncpg.Record`)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class Reads(Protocol):
    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Row]: ...


class Tx(Reads, Protocol):
    """Statements inside one open transaction."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; the rows it changed. Without `args`, `sql` may be a script."""
        ...

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def insert(self, sql: str, args: Sequence[Any], *, key: str) -> int:
        """Insert one row; the `key` the database gave it (an integer primary key)."""
        ...


class Dialect(Protocol):
    name: str
    """As logged: `sqlite`, `postgresql`."""
    unique_violation: type[Exception]
    """What a broken unique constraint raises."""

    def violates(self, exc: Exception, constraint: str) -> bool:
        """Whether `exc` may be a violation of `constraint` (SQLite does not name it)."""
        ...

    def for_update(self, of: str = "", *, skip_locked: bool = False) -> str:
        """The row-locking clause ending a SELECT (`of`: only that table's rows); empty on
        SQLite, whose one writer needs none."""
        ...

    def any_of(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        """`column` is one of `values` (a `sql_type` each): the condition and its arguments."""
        ...

    def to_db(self, at: datetime) -> Any:
        """A timestamp as its column stores it."""
        ...

    def from_db(self, value: Any) -> datetime: ...

    async def lock(self, tx: Tx, what: Lock) -> None:
        """Hold `what` until `tx` ends, against every other process (PostgreSQL's advisory
        lock; SQLite's one writer holds everything already)."""
        ...

    def migrations(self) -> list[Migration]:
        """This dialect's migration set, in order."""
        ...

    def script(self, sql: str) -> list[str]:
        """A migration file as the statements to execute."""
        ...

    timestamp_type: str
    """The column type of a timestamp (`schema_migrations.applied_at`)."""


class Runner(Protocol):
    """How a store runs its statements: the two ways of running a transaction."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def reads(self) -> Reads:
        """Committed data, each read on its own."""
        ...

    @property
    def latest(self) -> Reads:
        """Also what an open group commit holds but has not committed yet (SQLite: the
        writer's connection; PostgreSQL has no such batch: `reads`)."""
        ...

    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[Tx]:
        """One transaction, committed when the block ends. `durable=False`: the caller does not
        wait for the commit to reach the disk, for a write whose loss in a crash a recovery
        repairs (an idempotency claim, a stored answer, an order's `done`); later transactions
        still see it."""
        ...

    def autocommit(self) -> AbstractAsyncContextManager[Tx]:
        """Statements each committed on their own (PostgreSQL: no BEGIN/COMMIT round trips;
        SQLite: one transaction of the writer)."""
        ...

    async def close(self) -> None: ...


class Queries(Protocol):
    """What each part of the SQL store (`sql.SqlStore` is all of them) holds: the runner and
    its dialect. A part that keeps more extends `__init__`, calling `super().__init__(db)`.
    A part that is also what a consumer takes is a `Protocol` with its methods written out:
    the consumer's narrow protocol and the implementation are one class."""

    _db: Runner
    _d: Dialect

    def __init__(self, db: Runner) -> None:
        self._db = db
        self._d = db.dialect

    async def _purge(self, delete: str, args: Sequence[Any], *, batch: int) -> int:
        """Run `delete` (its last `?` the batch size) until it deletes fewer than `batch` rows,
        each run committed on its own; how many went. Small batches: SQLite runs statements on
        the event loop (`group_commit.py`), and PostgreSQL holds the rows' locks until each
        batch commits."""
        purged = 0
        while True:
            async with self._db.autocommit() as tx:
                count = await tx.execute(delete, (*args, batch))
            purged += count
            if count < batch:
                return purged
