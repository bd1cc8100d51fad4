"""Result rows as the records of `records.py`: the columns a query selects for each (in the
order of the record's fields), and the conversions of what a column stores as text (JSON, a
timestamp on SQLite, an enum)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from enum import Enum
from types import UnionType
from typing import Any, Generic, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from gateway.model.events import DeliveryState, EventRow
from gateway.store.dialect import Dialect, Row, Runner, Tx
from gateway.store.records import (
    DeliveryRow,
    OrderRow,
    PartRow,
    ReturnPartRow,
    ReturnRow,
    Step,
    StoredEvent,
)

T = TypeVar("T")


def names(record: Any) -> list[str]:
    """Each table has a column of the same name for each field of its record."""
    return [f.name for f in fields(record)]


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


QUEUED = ["next_attempt_at", "lease_owner", "lease_until", "created_at", "updated_at"]
"""What a new order or return is stored with besides its own fields: due, maybe leased."""


def part_row_id(parent_id: str, part: int) -> str:
    """A part's id: its parent's (an order's, a return's; they hold no `#`) and its number."""
    return f"{parent_id}#{part}"


class NewSubRow(Protocol):
    """A part as it is stored with its parent (`NewPart`, `NewReturnPart`)."""

    @property
    def part(self) -> int: ...
    @property
    def lines(self) -> Sequence[Sequence[object]]: ...


class PartInsert:
    """The INSERT of the parts of something stored (a split order's, a spanning return's),
    each `<parent id>#<part>`, `pending` and due, in the transaction storing their parent:
    `table`'s columns are `id`, `parent`, `client_id`, the fields of `record` (its `lines`
    as JSON), the status and phase it starts in, attempts and `QUEUED`."""

    def __init__(self, table: str, parent: str, record: type, status: str, phase: str) -> None:
        self._columns = names(record)
        state = ["status", "phase", "attempts", *QUEUED]
        self._sql = insert_sql(table, ["id", parent, "client_id", *self._columns, *state])
        self._start = (status, phase, 0)

    async def __call__(
        self,
        tx: Tx,
        parent_id: str,
        client_id: str,
        parts: Sequence[NewSubRow],
        *,
        now: float,
        stamp: Any,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> None:
        queued = (now, lease_owner, lease_until, stamp, stamp)
        rows = []
        for p in parts:
            values = {name: getattr(p, name) for name in self._columns}
            values["lines"] = orjson.dumps([list(line) for line in p.lines]).decode()
            row_id = part_row_id(parent_id, p.part)
            rows.append((row_id, parent_id, client_id, *values.values(), *self._start, *queued))
        await tx.execute_many(self._sql, rows)


ORDER_COLUMNS = ", ".join(names(OrderRow))
RETURN_COLUMNS = ", ".join(names(ReturnRow))
PART_COLUMNS = ", ".join(names(PartRow))
RETURN_PART_COLUMNS = ", ".join(names(ReturnPartRow))
EVENT_COLUMNS = ", ".join(names(EventRow))
STORED_EVENT_COLUMNS = ", ".join(names(StoredEvent))
DELIVERY_SELECT = (
    "SELECT d.subscriber, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error,"
    " d.delivered_at, e.seq, e.id, e.client_id, e.type, e.subject, e.data, e.created_at"
    " FROM deliveries d JOIN events e ON e.seq = d.seq"
)


def add_given(clauses: list[str], args: list[Any], given: Iterable[tuple[str, Any]]) -> None:
    """Add each (clause with its `?`, value) of `given` whose value is not None."""
    for clause, value in given:
        if value is not None:
            clauses.append(clause)
            args.append(value)


def step_sets(
    step: Step, columns: Iterable[tuple[str, Any]], sets: list[str], args: list[Any]
) -> None:
    """Add an UPDATE's assignments: each (column, value) whose value is not None, then what every
    `Step` says — when next to try, another attempt, giving up the lease."""
    columns = (*columns, ("next_attempt_at", step.next_attempt_at))
    add_given(sets, args, ((f"{column} = ?", value) for column, value in columns))
    if step.count_attempt:
        sets.append("attempts = attempts + 1")
    if step.release:
        sets.append("lease_owner = NULL, lease_until = NULL")


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def json_text(value: Any) -> str | None:
    """A JSON column's text; NULL for nothing (None, or an empty mapping)."""
    return orjson.dumps(value).decode() if value else None


Convert = Callable[[Any, Dialect], Any]


def _from_column(hint: Any) -> Convert | None:
    """How a column becomes the value of a field of type `hint` (None: as it is). JSON text is
    NULL for nothing: None, or an empty mapping or tuple."""
    given = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType) and len(given) == 1:  # X | None
        kind = given[0]
        if isinstance(kind, type) and issubclass(kind, Enum):
            return lambda v, _d: kind(v) if v else None
        return (lambda v, _d: _json(v)) if get_origin(kind) is dict else None
    if hint is datetime:
        return lambda v, d: d.from_db(v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return lambda v, _d: hint(v)
    if get_origin(hint) is dict:
        return lambda v, _d: orjson.loads(v)
    if get_origin(hint) is Mapping:
        return lambda v, _d: _json(v) or {}
    if get_origin(hint) is tuple and get_origin(given[0]) is tuple:  # JSON arrays of arrays
        return lambda v, _d: tuple(tuple(x) for x in orjson.loads(v))
    if get_origin(hint) is tuple:
        return lambda v, _d: tuple(_json(v) or ())
    return None


def decoder(record: type[T], *, by_name: bool = False) -> Callable[[Row, Dialect], T]:
    """A row of `record`'s columns (`names`, in that order; `by_name`: among others, as a
    join's) as a `record`, each value converted as its field's type says."""
    columns = names(record)
    hints = get_type_hints(record)
    convert = {n: c for n in columns if (c := _from_column(hints[n])) is not None}

    def decode(r: Row, d: Dialect) -> T:
        values = {n: r[n] for n in columns} if by_name else dict(zip(columns, r, strict=True))
        for name, to_value in convert.items():
            values[name] = to_value(values[name], d)
        return record(**values)

    return decode


order_row = decoder(OrderRow)
return_row = decoder(ReturnRow)
part_row = decoder(PartRow)
return_part_row = decoder(ReturnPartRow)
event_row = decoder(EventRow, by_name=True)  # of a delivery's row, too
stored_event = decoder(StoredEvent)


def history_of(db: Runner, table: str, record: type[T]) -> Table[T]:
    """The history entries of `table` (`order_history`, `return_history`) as `record`s."""
    return Table(db, table, ", ".join(names(record)), decoder(record))


def delivery_row(r: Row, d: Dialect) -> DeliveryRow:
    return DeliveryRow(
        subscriber=r["subscriber"],
        event=event_row(r, d),
        state=DeliveryState(r["state"]),
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_status=r["last_status"],
        last_error=r["last_error"],
        delivered_at=r["delivered_at"],
    )


class Table(Generic[T]):
    """Reads of one table's records (orders, parts, returns, history): one by a condition, all
    a condition selects, or a tenant's page of them, newest first. The table and its columns
    are the store's own constants."""

    def __init__(
        self, db: Runner, table: str, columns: str, to_row: Callable[[Row, Dialect], T]
    ) -> None:
        self._db = db
        self._table = table
        self._select = f"SELECT {columns} FROM {table} WHERE "
        self._to_row = to_row

    async def one(self, where: str, args: Sequence[Any], *, latest: bool = False) -> T | None:
        """The row `where` selects; `latest`: also one an open group commit holds."""
        reads = self._db.latest if latest else self._db.reads
        row = await reads.fetch_one(self._select + where, args)
        return self._to_row(row, self._db.dialect) if row is not None else None

    async def all(self, where: str, args: Sequence[Any], *, latest: bool = False) -> list[T]:
        """The rows `where` (with its ORDER BY, LIMIT) selects; `latest` as for `one`."""
        reads = self._db.latest if latest else self._db.reads
        return [
            self._to_row(r, self._db.dialect)
            for r in await reads.fetch_all(self._select + where, args)
        ]

    async def page(
        self,
        client_id: str,
        given: Sequence[tuple[str, Any]],
        *,
        limit: int,
        fixed: Sequence[str] = (),
        oldest_first: bool = False,
    ) -> list[T]:
        """The tenant's rows meeting each (condition, value) of `given` whose value is not
        None (a keyset cursor is one: `id < ?`) and each condition of `fixed`, at most
        `limit`, newest first (or `oldest_first`)."""
        where, args = _where(client_id, given, fixed)
        order = "" if oldest_first else " DESC"
        rows = await self._db.reads.fetch_all(
            f"{self._select}{where} ORDER BY id{order} LIMIT ?", (*args, limit)
        )
        return [self._to_row(r, self._db.dialect) for r in rows]

    async def count(
        self,
        client_id: str,
        given: Sequence[tuple[str, Any]],
        *,
        at_most: int,
        fixed: Sequence[str] = (),
    ) -> int:
        """How many rows `page` would find without its limit, counting no further than
        `at_most` (a count of a large result stops there)."""
        where, args = _where(client_id, given, fixed)
        row = await self._db.reads.fetch_one(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._table} WHERE {where} LIMIT ?) AS found",
            (*args, at_most),
        )
        assert row is not None
        return int(row[0])


def _where(
    client_id: str, given: Sequence[tuple[str, Any]], fixed: Sequence[str]
) -> tuple[str, list[Any]]:
    where, args = ["client_id = ?", *fixed], [client_id]
    add_given(where, args, given)
    return " AND ".join(where), args
