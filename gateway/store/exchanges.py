"""Provider exchanges (migration 011): the audit trail of what was sent to providers for an
order or return and what they answered, written in batches, read a tenant's page at a time,
purged after `audit.retention_s`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.observability.audit import Exchange
from gateway.store.dialect import Dialect, Queries, Row, Runner
from gateway.store.rows import Table, insert_sql, names

_FIELDS = names(Exchange)
_INSERT = insert_sql("exchanges", _FIELDS)
_READ = ["id", *_FIELDS]


def stored_exchange(row: Row, _d: Dialect) -> dict[str, Any]:
    """A row as the values of an `ExchangeView` (the booleans as SQLite stores them, 0/1)."""
    values = {name: row[name] for name in _READ}
    values["request_truncated"] = bool(values["request_truncated"])
    values["response_truncated"] = bool(values["response_truncated"])
    return values


class Exchanges(Queries, Protocol):
    """Provider exchanges (the audit trail; `gateway.observability.audit`)."""

    _exchanges: Table[dict[str, Any]]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._exchanges = Table(db, "exchanges", ", ".join(_READ), stored_exchange)

    async def add_exchanges(self, exchanges: Sequence[Exchange]) -> None:
        """Store a batch; not durable on its own (SQLite: it rides the next commit)."""
        if not exchanges:
            return
        # Not durable: SQLite lets the batch ride the next commit (no fsync of its own); a
        # crash before it loses only audit records, never an order's.
        async with self._db.transaction(durable=False) as tx:
            await tx.execute_many(_INSERT, [[getattr(e, n) for n in _FIELDS] for e in exchanges])

    async def list_exchanges(
        self, client_id: str, kind: str, subject_id: str, *, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """The subject's exchanges newest first, below id `before` when given."""
        return await self._exchanges.page(
            client_id,
            [("subject_kind = ?", kind), ("subject_id = ?", subject_id), ("id < ?", before)],
            limit=limit,
        )

    async def purge_exchanges(self, *, before: float, batch: int = 1000) -> int:
        """Delete exchanges recorded before `before`; how many."""
        return await self._purge(
            "DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges WHERE at < ? LIMIT ?)",
            (before,),
            batch=batch,
        )
