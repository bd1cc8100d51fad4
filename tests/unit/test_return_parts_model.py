"""A split order's return divided among the parts that shipped its lines (`split_return`),
and its status derived from its parts' (`of_return_parts`)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.model.part_orders import RETURN_RANK, of_return_parts, split_return
from gateway.model.returns import ReturnLine
from gateway.model.returns import ReturnStatus as R

SKUS = ["TSHIRT-M", "MUG", "CAP"]


def _lines(**units: int) -> list[ReturnLine]:
    return [ReturnLine(sku=sku.replace("_", "-"), quantity=n) for sku, n in units.items()]


def _units(lines: list[ReturnLine]) -> Counter[str]:
    got: Counter[str] = Counter()
    for line in lines:
        got[line.sku] += line.quantity
    return got


def test_each_line_goes_to_the_part_that_shipped_it() -> None:
    parts = {1: Counter({"TSHIRT-M": 2}), 2: Counter({"MUG": 1})}

    split, left = split_return(_lines(TSHIRT_M=1, MUG=1), parts)

    assert {n: _units(lines) for n, lines in split.items()} == {
        1: Counter({"TSHIRT-M": 1}),
        2: Counter({"MUG": 1}),
    }
    assert not left


def test_a_sku_several_parts_hold_is_divided_by_what_each_shipped() -> None:
    parts = {1: Counter({"MUG": 2}), 2: Counter({"MUG": 3}), 3: Counter({"CAP": 1})}

    split, left = split_return(_lines(MUG=4), parts)

    assert {n: _units(lines) for n, lines in split.items()} == {
        1: Counter({"MUG": 2}),
        2: Counter({"MUG": 2}),
    }
    assert not left


def test_no_lines_is_everything_returnable_of_every_part() -> None:
    parts = {1: Counter({"MUG": 2}), 2: Counter({"CAP": 1, "MUG": 0})}

    split, left = split_return(None, parts)

    assert {n: _units(lines) for n, lines in split.items()} == {
        1: Counter({"MUG": 2}),
        2: Counter({"CAP": 1}),
    }
    assert not left


def test_units_no_part_can_take_are_left() -> None:
    split, left = split_return(_lines(MUG=3, CAP=1), {1: Counter({"MUG": 2}), 2: Counter()})

    assert list(split) == [1]
    assert left == Counter({"MUG": 1, "CAP": 1})


@given(
    st.dictionaries(
        st.integers(1, 4),
        st.dictionaries(st.sampled_from(SKUS), st.integers(0, 5)).map(Counter),
        min_size=1,
    ),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1)),
)
def test_a_split_return_asks_each_part_at_most_what_it_holds_and_loses_nothing(
    parts: dict[int, Counter[str]], asked: dict[str, int] | None
) -> None:
    lines = None if asked is None else [ReturnLine(sku=s, quantity=n) for s, n in asked.items()]
    wanted = Counter(asked) if asked is not None else sum(parts.values(), Counter())

    split, left = split_return(lines, parts)

    placed: Counter[str] = Counter()
    for number, part_lines in split.items():
        got = _units(part_lines)
        assert got
        assert all(n <= parts[number][sku] for sku, n in got.items())
        placed += got
    assert placed + left == +wanted
    # What is left over, no part had room for.
    for sku in left:
        assert placed[sku] == sum(units[sku] for units in parts.values())


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ([R.REGISTERED, R.REGISTERED], R.REGISTERED),
        ([R.ACCEPTED, R.REGISTERED], R.ACCEPTED),
        ([R.COMPLETED, R.IN_PROGRESS], R.IN_PROGRESS),
        ([R.COMPLETED, R.COMPLETED], R.COMPLETED),
        ([R.COMPLETED, R.CANCELLED], R.COMPLETED),
        ([R.REGISTERED, R.REJECTED], R.REGISTERED),
        ([R.REJECTED, R.CANCELLED], R.REJECTED),
        ([R.CANCELLED, R.CANCELLED], R.CANCELLED),
    ],
)
def test_a_return_takes_its_status_from_its_parts(parts: list[R], status: R) -> None:
    assert of_return_parts(parts) is status


@given(st.lists(st.sampled_from(list(R)), min_size=1, max_size=5))
def test_a_split_return_is_completed_only_when_every_part_taking_goods_is(
    parts: list[R],
) -> None:
    status = of_return_parts(parts)
    taking = [p for p in parts if p not in (R.CANCELLED, R.REJECTED)]
    assert (status is R.COMPLETED) == (bool(taking) and all(p is R.COMPLETED for p in taking))
    assert (status is R.CANCELLED) == all(p is R.CANCELLED for p in parts)
    if status in RETURN_RANK:
        assert all(RETURN_RANK[p] >= RETURN_RANK[status] for p in taking)


def test_a_return_without_parts_has_no_status_of_its_parts() -> None:
    with pytest.raises(ValueError, match="without parts"):
        of_return_parts([])
