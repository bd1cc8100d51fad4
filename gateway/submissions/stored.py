"""`StoredRows`: the store's calls for one resource's submitted rows (orders, split parts,
returns, parts of returns), named once, and `StoredDriver`, which makes them — with the
lease's times — for every resource alike.

Each field is a store method as it is (`store.claim_part`); the store names them per table.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, Protocol, TypeVar

from gateway.submissions.driver import SubmissionDriver, SubmittedRow, W
from gateway.submissions.leases import S

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


SR = TypeVar("SR", bound=SubmittedRow)


class StoredDriver(SubmissionDriver[SR, W, S], Generic[SR, W, S, T]):
    """A `SubmissionDriver` whose store calls are its resource's `StoredRows`."""

    @abc.abstractmethod
    def _stored(self) -> StoredRows[SR, T]:
        """The store's calls for this resource's rows."""

    @cached_property
    def _rows(self) -> StoredRows[SR, T]:
        return self._stored()

    async def _get(self, row_id: str) -> SR | None:
        return await self._rows.get(row_id)

    async def _claim(self, row_id: str, lease: str) -> SR | None:
        return await self._rows.claim(
            row_id, owner=lease, now=self._clock.time(), lease_until=self.lease_until()
        )

    async def _claim_due(self, lease: str, limit: int) -> Sequence[SR]:
        return await self._rows.claim_due(
            owner=lease, now=self._clock.time(), lease_until=self.lease_until(), limit=limit
        )

    async def _renew(self, row_id: str, lease: str, until: float) -> bool:
        return await self._rows.renew(row_id, owner=lease, lease_until=until)

    async def _release(self, row_id: str, lease: str) -> None:
        await self._rows.release(row_id, owner=lease)

    async def _step(self, row: SR, lease: str, step: T) -> SR:
        """Commit `step` of the row (under its lease); the row as stored after it."""
        return await self._rows.advance(row.id, owner=lease, step=step)
