"""`StoredRows`: the store's calls for one resource's submitted rows (orders, split parts),
named once so that the driver makes them — with the lease's times — for every resource alike.

Each field is a store method as it is (`store.claim_part`); the store names them per table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class _Claim(Protocol[R_co]):
    def __call__(
        self, row_id: str, /, *, owner: str, now: float, lease_until: float
    ) -> Awaitable[R_co | None]: ...


class _ClaimDue(Protocol[R_co]):
    def __call__(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Awaitable[Sequence[R_co]]: ...


class _Renew(Protocol):
    def __call__(self, row_id: str, /, *, owner: str, lease_until: float) -> Awaitable[bool]: ...


class _Release(Protocol):
    def __call__(self, row_id: str, /, *, owner: str) -> Awaitable[None]: ...


class _Advance(Protocol[R_co, T_contra]):
    def __call__(self, row_id: str, /, *, owner: str, step: T_contra) -> Awaitable[R_co]: ...


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredRows(Generic[R, T]):
    """A resource's rows in the store: read, lease (one, or the due ones), renew, release,
    and commit a step `T` under the lease."""

    get: Callable[[str], Awaitable[R | None]]
    claim: _Claim[R]
    claim_due: _ClaimDue[R]
    renew: _Renew
    release: _Release
    advance: _Advance[R, T]
