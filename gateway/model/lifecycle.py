"""The canonical status state machine: forward only, transitions as data.

    accepted ─▶ submitted ─▶ in_progress ─▶ shipped ─▶ delivered
        │            │             │            │
        └────────────┴─────────────┴────────────┴──▶ on_hold ⇄ exception   (side states)
                                                 ──▶ cancelled · rejected  (final)

Every piece of news about an order (a webhook, a poll, an API call, the submitter) goes
through `decide`. Whatever arrives late or repeated must never move an order backwards:

- `TRANSITIONS` lists, per status, the statuses it may move to; a final status
  (`delivered`, `cancelled`, `rejected`) moves nowhere.
- Along the main line, an order never goes below the furthest point it has reached
  (`reached`, the high-water mark over its applied history): `in_progress` after `shipped`
  is ignored even when `on_hold` came in between. Leaving `on_hold`/`exception` for the
  point where the order stood (a back order that got its stock) is a recovery, not a
  regression.
- The same status again is `UNCHANGED` (not recorded); anything else refused is `IGNORED`
  and recorded in the history as such, never applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from gateway.model.orders import Status

S = Status

MAIN_LINE: tuple[Status, ...] = (S.ACCEPTED, S.SUBMITTED, S.IN_PROGRESS, S.SHIPPED, S.DELIVERED)
RANK: Mapping[Status, int] = {status: i for i, status in enumerate(MAIN_LINE)}
SIDE = frozenset({S.ON_HOLD, S.EXCEPTION})
FINAL = frozenset({S.DELIVERED, S.CANCELLED, S.REJECTED})

_ANYWHERE_LATER = {S.ON_HOLD, S.EXCEPTION, S.CANCELLED, S.REJECTED}
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    S.ACCEPTED: frozenset({S.SUBMITTED, S.IN_PROGRESS, S.SHIPPED, S.DELIVERED, *_ANYWHERE_LATER}),
    S.SUBMITTED: frozenset({S.IN_PROGRESS, S.SHIPPED, S.DELIVERED, *_ANYWHERE_LATER}),
    S.IN_PROGRESS: frozenset({S.SHIPPED, S.DELIVERED, S.ON_HOLD, S.EXCEPTION, S.CANCELLED}),
    # A parcel on its way can be lost or come back, not be cancelled or refused.
    S.SHIPPED: frozenset({S.DELIVERED, S.EXCEPTION}),
    S.ON_HOLD: frozenset(
        {S.SUBMITTED, S.IN_PROGRESS, S.SHIPPED, S.DELIVERED, S.EXCEPTION, S.CANCELLED, S.REJECTED}
    ),
    S.EXCEPTION: frozenset(
        {S.SUBMITTED, S.IN_PROGRESS, S.SHIPPED, S.DELIVERED, S.ON_HOLD, S.CANCELLED, S.REJECTED}
    ),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}
"""Status → the statuses it may move to (before the high-water check)."""


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    """The order is in this status already: nothing to record."""
    IGNORED = "ignored"
    """A regression or a move the table forbids: recorded in history, never applied."""


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str | None = None


def reached(applied: Iterable[Status]) -> Status:
    """The furthest main-line status among `applied` (the order's history), `accepted` if none."""
    best = S.ACCEPTED
    for status in applied:
        if status in RANK and RANK[status] > RANK[best]:
            best = status
    return best


def decide(current: Status, furthest: Status, new: Status) -> Verdict:
    """Whether an order in `current`, having reached `furthest`, may take `new`."""
    if new is current:
        return Verdict(Outcome.UNCHANGED)
    if current in FINAL:
        return Verdict(Outcome.IGNORED, f"{current} is final")
    if new not in TRANSITIONS[current]:
        return Verdict(Outcome.IGNORED, f"{current} does not move to {new}")
    if new in RANK and RANK[new] < RANK[furthest]:
        return Verdict(Outcome.IGNORED, f"the order has reached {furthest} already")
    return Verdict(Outcome.APPLIED)


def fold(news: Iterable[Status], start: Status = S.ACCEPTED) -> list[tuple[Status, Verdict]]:
    """Run a sequence of news from `start`: each status with its verdict (for tests and tools)."""
    current, applied = start, [start]
    out = []
    for status in news:
        verdict = decide(current, reached(applied), status)
        if verdict.outcome is Outcome.APPLIED:
            current = status
            applied.append(status)
        out.append((status, verdict))
    return out


def of_parts(parts: Iterable[Status]) -> Status:
    """An order's status from its parts' (split fulfilment): the least advanced among the parts
    not cancelled (so `delivered` only when every such part is); `rejected` only when every part
    not cancelled is; `exception` while some part is rejected or in exception and the others are
    not; `on_hold` while a part is held; `cancelled` when every part is. The result still goes
    through `decide`, so the order itself stays forward-only."""
    statuses = list(parts)
    if not statuses:
        raise ValueError("an order without parts has no status of its parts")
    live = [status for status in statuses if status is not S.CANCELLED]
    if not live:
        return S.CANCELLED
    if all(status is S.REJECTED for status in live):
        return S.REJECTED
    if any(status in (S.REJECTED, S.EXCEPTION) for status in live):
        return S.EXCEPTION
    if S.ON_HOLD in live:
        return S.ON_HOLD
    return min(live, key=RANK.__getitem__)


def part_takes(current: Status, new: Status) -> Status | None:
    """The status a part of a split order in `current` takes for news of `new`, or None:
    forward-only as an order's, the part's own status standing for the furthest it reached
    (parts keep no history of their own)."""
    if current in FINAL:
        return None
    furthest = current if current in RANK else S.ACCEPTED
    return new if decide(current, furthest, new).outcome is Outcome.APPLIED else None
