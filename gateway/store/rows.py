"""Result rows as the records of `records.py`: the columns a query selects for each (in the
order of the record's fields), and the conversions of what a column stores as text (JSON, a
timestamp on SQLite, an enum)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from typing import Any, Generic, TypeVar

import orjson

from gateway.model.events import DeliveryState, EventRow
from gateway.model.orders import Phase, Status
from gateway.model.returns import Decision, ReturnPhase, ReturnStatus
from gateway.store.dialect import Dialect, Row, Runner
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
_ORDER_FIELDS = names(OrderRow)
_RETURN_FIELDS = names(ReturnRow)
_PART_FIELDS = names(PartRow)
PART_COLUMNS = ", ".join(_PART_FIELDS)
_RETURN_PART_FIELDS = names(ReturnPartRow)
RETURN_PART_COLUMNS = ", ".join(_RETURN_PART_FIELDS)
_STORED_EVENT_FIELDS = names(StoredEvent)
ORDER_COLUMNS = ", ".join(_ORDER_FIELDS)
RETURN_COLUMNS = ", ".join(_RETURN_FIELDS)
_EVENT_FIELDS = names(EventRow)
EVENT_COLUMNS = ", ".join(_EVENT_FIELDS)
STORED_EVENT_COLUMNS = ", ".join(_STORED_EVENT_FIELDS)
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


def order_row(r: Row, d: Dialect) -> OrderRow:
    return OrderRow(
        **{
            **dict(zip(_ORDER_FIELDS, r, strict=True)),
            "status": Status(r["status"]),
            "phase": Phase(r["phase"]),
            "last_error": _json(r["last_error"]),
            "created_at": d.from_db(r["created_at"]),
            "updated_at": d.from_db(r["updated_at"]),
            "shipment_ids": tuple(_json(r["shipment_ids"]) or ()),
            "provider_data": _json(r["provider_data"]) or {},
        }
    )


def return_row(r: Row, d: Dialect) -> ReturnRow:
    return ReturnRow(
        **{
            **dict(zip(_RETURN_FIELDS, r, strict=True)),
            "status": ReturnStatus(r["status"]),
            "decision": Decision(r["decision"]) if r["decision"] else None,
            "phase": ReturnPhase(r["phase"]),
            "last_error": _json(r["last_error"]),
            "created_at": d.from_db(r["created_at"]),
            "updated_at": d.from_db(r["updated_at"]),
        }
    )


def return_part_row(r: Row, d: Dialect) -> ReturnPartRow:
    return ReturnPartRow(
        **{
            **dict(zip(_RETURN_PART_FIELDS, r, strict=True)),
            "lines": tuple((str(sku), int(q)) for sku, q in orjson.loads(r["lines"])),
            "status": ReturnStatus(r["status"]),
            "decision": Decision(r["decision"]) if r["decision"] else None,
            "phase": ReturnPhase(r["phase"]),
            "last_error": _json(r["last_error"]),
            "created_at": d.from_db(r["created_at"]),
            "updated_at": d.from_db(r["updated_at"]),
        }
    )


def part_row(r: Row, d: Dialect) -> PartRow:
    return PartRow(
        **{
            **dict(zip(_PART_FIELDS, r, strict=True)),
            "lines": tuple((int(i), str(sku), int(q)) for i, sku, q in orjson.loads(r["lines"])),
            "status": Status(r["status"]),
            "phase": Phase(r["phase"]),
            "provider_data": _json(r["provider_data"]) or {},
            "last_error": _json(r["last_error"]),
            "created_at": d.from_db(r["created_at"]),
            "updated_at": d.from_db(r["updated_at"]),
        }
    )


def event_row(r: Row, d: Dialect) -> EventRow:
    return EventRow(
        **{
            **{name: r[name] for name in _EVENT_FIELDS},  # of a delivery's row, too
            "data": orjson.loads(r["data"]),
            "created_at": d.from_db(r["created_at"]),
        }
    )


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


def stored_event(r: Row) -> StoredEvent:
    return StoredEvent(
        **{
            **dict(zip(_STORED_EVENT_FIELDS, r, strict=True)),
            "status": Status(r["status"]) if r["status"] else None,
            "shipment_ids": tuple(_json(r["shipment_ids"]) or ()),
        }
    )


class Table(Generic[T]):
    """Reads of one table's records (orders, returns): one by a condition, or a tenant's page
    of them, newest first. The table and its columns are the store's own constants."""

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
