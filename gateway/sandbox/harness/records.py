"""What the sandboxes' states share: timestamps as their providers print them, the check of a
status moved to, and the lookup of a record an API call names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def utc_iso(ts: float, timespec: str = "auto") -> str:
    """ISO-8601 UTC with a `Z`, to `timespec` (as `datetime.isoformat` takes it)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def check_status(status: str, allowed: Sequence[str], what: str) -> None:
    """`ValueError` unless `status` is one of the `allowed` statuses of a `what` (order…)."""
    if status not in allowed:
        raise ValueError(f"unknown {what} status {status!r}; one of {allowed}")


def found(table: Mapping[K, V], key: K, missing: Callable[[], Exception]) -> V:
    """`table[key]`, or raise what `missing` makes (the provider's own 404)."""
    value = table.get(key)
    if value is None:
        raise missing()
    return value
