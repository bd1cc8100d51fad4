"""Leases on PostgreSQL: what orders and returns share — claiming the due rows, renewing a
lease, releasing it. `table` and `columns` are the store's own constants, never input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store.postgres_pool import PostgresPool


class PostgresLeases(PostgresPool):
    async def _claim_due_rows(
        self,
        table: str,
        columns: str,
        open_phases: str,
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
    ) -> Sequence[Any]:
        """Lease up to `limit` rows in an open phase that are due and not leased, as records.

        SKIP LOCKED: rows another replica is leasing this instant are passed over, not waited
        for; the lease condition is re-checked on every row that is locked.
        """
        async with self._tx() as db:
            rows: Sequence[Any] = await db.fetch(
                f"UPDATE {table} SET lease_owner = $1, lease_until = $2 WHERE id IN ("
                f" SELECT id FROM {table} WHERE phase IN {open_phases} AND next_attempt_at <= $3"
                " AND (lease_until IS NULL OR lease_until <= $3)"
                " ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {columns}",
                owner,
                lease_until,
                now,
                limit,
            )
        return rows

    async def _renew_lease(self, table: str, row_id: str, *, owner: str, until: float) -> bool:
        async with self._conn() as conn:
            done = await conn.execute(
                f"UPDATE {table} SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
                until,
                row_id,
                owner,
            )
        return bool(done == "UPDATE 1")

    async def _release_lease(self, table: str, row_id: str, *, owner: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                " WHERE id = $1 AND lease_owner = $2",
                row_id,
                owner,
            )
