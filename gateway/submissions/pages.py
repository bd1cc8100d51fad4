"""Lists run newest first, a page at a time: one row more than asked says whether there is
another page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from gateway.store import OrderFilter, ReturnFilter

F = TypeVar("F", OrderFilter, ReturnFilter)
T = TypeVar("T")


async def one_page(fetch: Callable[[F], Awaitable[Sequence[T]]], flt: F) -> tuple[list[T], bool]:
    """The page `flt` asks for, and whether there is another."""
    rows = list(await fetch(replace(flt, limit=flt.limit + 1)))
    return rows[: flt.limit], len(rows) > flt.limit
