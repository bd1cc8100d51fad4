"""Leases: what orders, their split parts and returns share — claiming one row or the due
rows, renewing a lease, releasing it — and claiming the rows due for a status poll. The
table and its columns are the store's own constants, never input."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Generic, Protocol, TypeVar

from gateway.errors import LeaseLost, ProviderOrderTaken
from gateway.model.lifecycle import FINAL
from gateway.store.dialect import Dialect, Row, Runner, Tx, sql_list

_FINAL = sql_list(FINAL)

T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)


# What a store offers of a table's leases, under the names its consumers call (`claim_part`,
# `renew_return`, …): each one of `Leases`' methods, bound to that table's.
class Claim(Protocol[R_co]):
    async def __call__(
        self, row_id: str, /, *, owner: str, now: float, lease_until: float
    ) -> R_co | None: ...


class ClaimDue(Protocol[R_co]):
    async def __call__(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[R_co]: ...


class ClaimForPoll(Protocol[R_co]):
    async def __call__(
        self, provider: str, /, *, now: float, older_than: float, limit: int
    ) -> Sequence[R_co]: ...


class Renew(Protocol):
    async def __call__(self, row_id: str, /, *, owner: str, lease_until: float) -> bool: ...


class Release(Protocol):
    async def __call__(self, row_id: str, /, *, owner: str) -> None: ...


class Leases(Generic[T]):
    def __init__(
        self,
        db: Runner,
        table: str,
        columns: str,
        open_phases: Collection[str],
        to_row: Callable[[Row, Dialect], T],
    ) -> None:
        self._db = db
        self._table = table
        self._columns = columns
        self._open = sql_list(open_phases)
        self._to_row = to_row

    async def step(
        self,
        tx: Tx,
        row_id: str,
        owner: str | None,
        sets: Sequence[str],
        args: Sequence[Any],
        *,
        unsent_at: float | None = None,
    ) -> Row:
        """The row updated by `sets` (their `args`) in `tx`, as it is then: only while `owner`
        holds its lease (None: whoever does) and, with `unsent_at`, while it is `pending` and
        nobody's lease runs at that instant; `LeaseLost` otherwise."""
        where, wargs = "id = ?", list[Any]([row_id])
        if owner is not None:
            where += " AND lease_owner = ?"
            wargs.append(owner)
        if unsent_at is not None:
            where += " AND phase = 'pending' AND (lease_until IS NULL OR lease_until <= ?)"
            wargs.append(unsent_at)
        row = await tx.fetch_one(
            f"UPDATE {self._table} SET {', '.join(sets)} WHERE {where} RETURNING {self._columns}",
            (*args, *wargs),
        )
        if row is None:
            raise LeaseLost(row_id)
        return row

    async def taken(self, row_id: str, provider_order_id: str, *, by: str) -> ProviderOrderTaken:
        """What a step that broke (provider, provider_order_id) raises: the row that holds the
        key (its column `by`), read after the failed transaction."""
        held = await self._db.reads.fetch_one(
            f"SELECT h.provider, h.{by} FROM {self._table} o JOIN {self._table} h"
            " ON h.provider = o.provider AND h.provider_order_id = ? AND h.id <> o.id"
            " WHERE o.id = ?",
            (provider_order_id, row_id),
        )
        provider, holder = (held[0], held[1]) if held is not None else ("?", None)
        return ProviderOrderTaken(provider, provider_order_id, holder)

    async def claim(self, row_id: str, *, owner: str, now: float, lease_until: float) -> T | None:
        """Lease the row if it is in an open phase and free (or `owner`'s already); None
        otherwise."""
        async with self._db.autocommit() as tx:
            row = await tx.fetch_one(
                f"UPDATE {self._table} SET lease_owner = ?, lease_until = ? WHERE id = ?"
                f" AND phase IN {self._open} AND (lease_until IS NULL OR lease_until <= ?"
                f" OR lease_owner = ?) RETURNING {self._columns}",
                (owner, lease_until, row_id, now, owner),
            )
        return None if row is None else self._to_row(row, self._db.dialect)

    async def claim_due(self, *, owner: str, now: float, lease_until: float, limit: int) -> list[T]:
        """Lease up to `limit` rows in an open phase that are due and not leased; oldest due
        first. SKIP LOCKED: rows another replica is leasing this instant are passed over, not
        waited for; the lease condition is re-checked on every row that is locked."""
        d = self._db.dialect
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(
                f"UPDATE {self._table} SET lease_owner = ?, lease_until = ? WHERE id IN ("
                f" SELECT id FROM {self._table} WHERE phase IN {self._open}"
                " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
                f" ORDER BY next_attempt_at LIMIT ?{d.for_update(skip_locked=True)})"
                f" RETURNING {self._columns}",
                (owner, lease_until, now, now, limit),
            )
        return [self._to_row(r, d) for r in sorted(rows, key=lambda r: r["next_attempt_at"])]

    async def renew(self, row_id: str, *, owner: str, lease_until: float) -> bool:
        """Extend a lease `owner` holds; False if it was lost."""
        async with self._db.autocommit() as tx:
            changed = await tx.execute(
                f"UPDATE {self._table} SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                (lease_until, row_id, owner),
            )
        return changed == 1

    async def release(self, row_id: str, *, owner: str) -> None:
        async with self._db.autocommit() as tx:
            await tx.execute(
                f"UPDATE {self._table} SET lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND lease_owner = ?",
                (row_id, owner),
            )

    async def claim_for_poll(
        self, provider: str, *, now: float, older_than: float, limit: int
    ) -> list[T]:
        """Submitted, not final rows of `provider` not synced since `older_than`, least
        recently synced first, stamped synced `now` (SKIP LOCKED: another replica's poll takes
        others)."""
        d = self._db.dialect
        async with self._db.transaction() as tx:
            due = await tx.fetch_all(
                f"SELECT id FROM {self._table} WHERE provider = ? AND phase = 'done'"
                f" AND status NOT IN {_FINAL} AND provider_order_id IS NOT NULL"
                " AND COALESCE(synced_at, 0) <= ? ORDER BY COALESCE(synced_at, 0), id"
                f" LIMIT ?{d.for_update(skip_locked=True)}",
                (provider, older_than, limit),
            )
            if not due:
                return []
            ids = [r[0] for r in due]
            which, args = d.any_of("id", ids, "text")
            rows = await tx.fetch_all(
                f"UPDATE {self._table} SET synced_at = ? WHERE {which} RETURNING {self._columns}",
                (now, *args),
            )
        by_id = {r["id"]: self._to_row(r, d) for r in rows}
        return [by_id[i] for i in ids]  # least recently synced first
