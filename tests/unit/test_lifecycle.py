"""The status state machine: its table, and that no sequence of news moves an order back."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model.lifecycle import (
    FINAL,
    RANK,
    TRANSITIONS,
    Outcome,
    decide,
    fold,
    of_parts,
    part_takes,
    reached,
)
from gateway.model.orders import Status as S
from gateway.providers.logentic.statuses import STATUSES as LOGENTIC
from gateway.providers.logitrail.statuses import STATUSES as LOGITRAIL


@pytest.mark.parametrize(
    ("current", "furthest", "new", "outcome"),
    [
        (S.ACCEPTED, S.ACCEPTED, S.SUBMITTED, Outcome.APPLIED),
        (S.SUBMITTED, S.SUBMITTED, S.IN_PROGRESS, Outcome.APPLIED),
        (S.SUBMITTED, S.SUBMITTED, S.DELIVERED, Outcome.APPLIED),  # skipped steps are fine
        (S.IN_PROGRESS, S.IN_PROGRESS, S.SHIPPED, Outcome.APPLIED),
        (S.SHIPPED, S.SHIPPED, S.DELIVERED, Outcome.APPLIED),
        (S.SHIPPED, S.SHIPPED, S.IN_PROGRESS, Outcome.IGNORED),  # late "packed"
        (S.DELIVERED, S.DELIVERED, S.SHIPPED, Outcome.IGNORED),  # shipped after delivered
        (S.DELIVERED, S.DELIVERED, S.EXCEPTION, Outcome.IGNORED),  # final is final
        (S.CANCELLED, S.SUBMITTED, S.IN_PROGRESS, Outcome.IGNORED),
        (S.REJECTED, S.ACCEPTED, S.SUBMITTED, Outcome.IGNORED),
        (S.SHIPPED, S.SHIPPED, S.CANCELLED, Outcome.IGNORED),  # a parcel on its way
        (S.IN_PROGRESS, S.IN_PROGRESS, S.CANCELLED, Outcome.APPLIED),
        (S.IN_PROGRESS, S.IN_PROGRESS, S.ON_HOLD, Outcome.APPLIED),
        (S.ON_HOLD, S.IN_PROGRESS, S.IN_PROGRESS, Outcome.APPLIED),  # recovery where it stood
        (S.ON_HOLD, S.IN_PROGRESS, S.SUBMITTED, Outcome.IGNORED),  # not below where it stood
        (S.ON_HOLD, S.SUBMITTED, S.SUBMITTED, Outcome.APPLIED),  # back order got its stock
        (S.EXCEPTION, S.SHIPPED, S.DELIVERED, Outcome.APPLIED),
        (S.EXCEPTION, S.SHIPPED, S.ON_HOLD, Outcome.APPLIED),
        (S.SUBMITTED, S.SUBMITTED, S.SUBMITTED, Outcome.UNCHANGED),
        (S.SUBMITTED, S.SUBMITTED, S.ACCEPTED, Outcome.IGNORED),
    ],
)
def test_transition_table(current: S, furthest: S, new: S, outcome: Outcome) -> None:
    assert decide(current, furthest, new).outcome is outcome


def test_every_status_has_a_row_and_finals_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(S)
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset()
    for status, targets in TRANSITIONS.items():
        assert status not in targets
        assert S.ACCEPTED not in targets  # nothing goes back to "not yet at a provider"


def test_reached_is_the_furthest_main_line_status() -> None:
    assert reached([S.ACCEPTED, S.SUBMITTED, S.SHIPPED, S.ON_HOLD]) is S.SHIPPED
    assert reached([]) is S.ACCEPTED


def test_an_ignored_status_gives_a_reason() -> None:
    verdict = decide(S.DELIVERED, S.DELIVERED, S.SHIPPED)
    assert verdict.reason == "delivered is final"


# Any news a provider can send, in the canonical terms its table maps to.
PROVIDER_NEWS = sorted(set(LOGITRAIL.values()) | set(LOGENTIC.values()) | set(S))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PROVIDER_NEWS), max_size=30))
def test_any_sequence_of_news_yields_a_monotone_history(news: list[S]) -> None:
    applied = [S.ACCEPTED] + [s for s, v in fold(news) if v.outcome is Outcome.APPLIED]
    main = [RANK[s] for s in applied if s in RANK]
    assert main == sorted(main), f"main line went backwards: {applied}"
    for before, after in itertools.pairwise(applied):
        assert after in TRANSITIONS[before], f"{before} → {after} is not in the table"
    finals = [i for i, s in enumerate(applied) if s in FINAL]
    assert not finals or finals[0] == len(applied) - 1, f"moved after a final status: {applied}"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(PROVIDER_NEWS), max_size=15),
    st.lists(st.sampled_from(PROVIDER_NEWS), min_size=1, max_size=15),
)
def test_once_final_no_later_news_is_applied(before: list[S], after: list[S]) -> None:
    """However the order got to its end, every later (late, repeated) news is ignored."""
    steps = fold(before)
    applied = [s for s, v in steps if v.outcome is Outcome.APPLIED]
    end = applied[-1] if applied else S.ACCEPTED
    if end not in FINAL:
        end = S.DELIVERED if S.DELIVERED in TRANSITIONS[end] else S.CANCELLED
        before = [*before, end]
    later = fold(before + after)[len(before) :]
    assert all(v.outcome is not Outcome.APPLIED for _s, v in later)
    assert all(v.outcome is Outcome.UNCHANGED for s, v in later if s is end)


@pytest.mark.parametrize(
    ("parts", "order"),
    [
        ([S.SHIPPED], S.SHIPPED),
        ([S.SHIPPED, S.SUBMITTED], S.SUBMITTED),
        ([S.DELIVERED, S.SHIPPED], S.SHIPPED),
        ([S.DELIVERED, S.DELIVERED], S.DELIVERED),
        ([S.DELIVERED, S.CANCELLED], S.DELIVERED),
        ([S.CANCELLED, S.CANCELLED], S.CANCELLED),
        ([S.REJECTED, S.REJECTED], S.REJECTED),
        ([S.REJECTED, S.CANCELLED], S.REJECTED),
        ([S.REJECTED, S.SHIPPED], S.EXCEPTION),
        ([S.EXCEPTION, S.DELIVERED], S.EXCEPTION),
        ([S.ON_HOLD, S.IN_PROGRESS], S.ON_HOLD),
        ([S.ON_HOLD, S.EXCEPTION], S.EXCEPTION),
        ([S.ACCEPTED, S.SUBMITTED], S.ACCEPTED),
    ],
)
def test_an_order_takes_its_status_from_its_parts(parts: list[S], order: S) -> None:
    assert of_parts(parts) is order


@given(st.lists(st.sampled_from(list(S)), min_size=1, max_size=5))
def test_a_part_order_is_delivered_only_when_every_live_part_is(parts: list[S]) -> None:
    status = of_parts(parts)
    live = [p for p in parts if p is not S.CANCELLED]
    assert (status is S.DELIVERED) == (bool(live) and all(p is S.DELIVERED for p in live))
    assert (status is S.REJECTED) == (bool(live) and all(p is S.REJECTED for p in live))
    if status in RANK:
        assert all(p in RANK and RANK[p] >= RANK[status] for p in live)


def test_an_order_without_parts_has_no_status_of_its_parts() -> None:
    with pytest.raises(ValueError, match="without parts"):
        of_parts([])


@settings(max_examples=300)
@given(
    st.integers(min_value=2, max_value=4),
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(list(S))), max_size=25),
)
def test_news_of_parts_never_moves_their_order_backwards(
    count: int, news: list[tuple[int, S]]
) -> None:
    """Parts take news forward-only (`part_takes`); the order takes what `of_parts` derives
    through `decide`, as the store does: its main-line status never goes down, and once every
    part not cancelled is delivered, so is the order."""
    parts = [S.SUBMITTED] * count
    order, applied = S.SUBMITTED, [S.ACCEPTED, S.SUBMITTED]
    for index, status in news:
        which = index % count
        taken = part_takes(parts[which], status)
        if taken is None:
            continue
        parts[which] = taken
        derived = of_parts(parts)
        if decide(order, reached(applied), derived).outcome is Outcome.APPLIED:
            before = reached(applied)
            order = derived
            applied.append(derived)
            assert RANK[reached(applied)] >= RANK[before]
            assert order not in RANK or RANK[order] >= RANK[before]
    live = [p for p in parts if p is not S.CANCELLED]
    if live and all(p is S.DELIVERED for p in live):
        assert order is S.DELIVERED, parts
