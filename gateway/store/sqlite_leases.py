"""Leases on SQLite: what orders and returns share — claiming the due rows, renewing a lease,
releasing it. `table` and `columns` are the store's own constants, never input."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from gateway.store.group_commit import Statements


class SqliteLeases:
    _tx: Callable[[], AbstractAsyncContextManager[Statements]]

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
    ) -> list[sqlite3.Row]:
        """Lease up to `limit` rows in an open phase that are due and not leased; oldest due
        first. (One writer: no other process can claim them in between.)"""
        async with self._tx() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {columns} FROM {table} WHERE phase IN {open_phases}"
                    " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
                    " ORDER BY next_attempt_at LIMIT ?",
                    (now, now, limit),
                )
            )
            for r in rows:
                await db.execute(
                    f"UPDATE {table} SET lease_owner = ?, lease_until = ? WHERE id = ?",
                    (owner, lease_until, r["id"]),
                )
        return rows

    async def _renew_lease(self, table: str, row_id: str, *, owner: str, until: float) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                f"UPDATE {table} SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                (until, row_id, owner),
            )
            return cur.rowcount == 1

    async def _release_lease(self, table: str, row_id: str, *, owner: str) -> None:
        async with self._tx() as db:
            await db.execute(
                f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND lease_owner = ?",
                (row_id, owner),
            )
