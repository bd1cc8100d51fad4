"""Checks a migration must pass before it is applied, shared by both backends.

A migration that adds a constraint existing rows may break does not fail blindly on the
first violating row: the runner asks these queries first and, if any finds rows, refuses to
migrate with every violation listed (`MigrationBlocked`), so an operator can settle them and
migrate again. The queries are plain SQL that SQLite and PostgreSQL both run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import MigrationBlocked
from gateway.store.dialect import Row


@dataclass(frozen=True, slots=True)
class Precheck:
    query: str
    """Rows that would violate the migration: (table, provider, value, count, first id,
    last id)."""
    what: str
    """What such a row is, for the operator."""
    fix: str
    """What the operator does about it before migrating again."""


_DUPLICATES = (
    "SELECT '{table}' AS tbl, provider, {column} AS ident, COUNT(*) AS n, MIN(id) AS first,"
    " MAX(id) AS last FROM {table} WHERE {column} IS NOT NULL"
    " GROUP BY provider, {column} HAVING COUNT(*) > 1 ORDER BY provider, {column}"
)

PRECHECKS: Mapping[int, Sequence[Precheck]] = {
    6: (
        Precheck(
            _DUPLICATES.format(table="orders", column="provider_order_id"),
            "gateway orders holding the same provider order",
            "Each provider order belongs to one gateway order only: decide which order holds"
            " it, clear provider_order_id on the others, and migrate again.",
        ),
    ),
}


def blocking(version: int, found: Iterable[tuple[Precheck, Sequence[Row]]]) -> None:
    """Raise `MigrationBlocked` if the prechecks of `version` found rows (`found`: each check
    with the rows its query returned)."""
    problems, fixes = [], []
    for check, rows in found:
        problems += [
            f"{check.what}: {r[1]} {r[2]!s} held by {r[3]} rows ({r[4]} … {r[5]})" for r in rows
        ]
        if rows:
            fixes.append(check.fix)
    if problems:
        raise MigrationBlocked(version, problems, fixes)
