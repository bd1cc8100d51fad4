"""`gateway route --stock FILE`: the offline explain plans on the stock the file gives, so a
split plan is seen without any provider; a file that is not a stock file is refused with
every problem named (exit 1)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.system.test_cli import SHIPPED, gateway

SAMPLE_CA = SHIPPED.parent / "sample-order-ca.json"
APART = {"logentic": {"MTL": {"TSHIRT-M": 5, "MUG": 0}, "TOR": {"TSHIRT-M": 0, "MUG": 3}}}


def _route(tmp_path: Path, stock: object | bytes) -> tuple[int, str, str]:
    path = tmp_path / "stock.json"
    path.write_bytes(stock if isinstance(stock, bytes) else orjson.dumps(stock))
    return gateway("route", "--config", str(SHIPPED), str(SAMPLE_CA), "--stock", str(path))


def test_route_with_a_stock_file_shows_the_split_plan_and_the_stock_of_each_part(
    tmp_path: Path,
) -> None:
    """The shipped config's north-america rule splits (the README's example)."""
    code, out, err = _route(tmp_path, APART)
    assert code == 0, err
    parts = orjson.loads(out)["decision"]["parts"]
    assert [(p["warehouse"], p["lines"], p["stock"]) for p in parts] == [
        ("MTL", [{"line": 0, "sku": "TSHIRT-M", "quantity": 2}], {"TSHIRT-M": 2}),
        ("TOR", [{"line": 1, "sku": "MUG", "quantity": 1}], {"MUG": 1}),
    ]


def test_a_warehouse_the_stock_file_leaves_out_is_stock_unknown(tmp_path: Path) -> None:
    code, out, err = _route(tmp_path, {"logentic": {"MTL": {"TSHIRT-M": 5, "MUG": 0}}})
    assert code == 0, err
    explained = orjson.loads(out)
    assert explained["decision"]["parts"] == []  # nothing to split over: not split
    [rule] = [r for r in explained["trace"] if r["rule"] == "north-america"]
    mtl, tor = rule["candidates"]
    assert mtl["stock"] == {"TSHIRT-M": 5, "MUG": 0}
    assert (tor["outcome"], tor["stock"]) == ("skipped: stock unknown", None)


@pytest.mark.parametrize(
    ("stock", "problems"),
    [
        (b"{not json", ["not JSON: "]),
        ([1, 2], ['expected {"<provider>": {"<warehouse>": {"<sku>": units}}}']),
        ({"logentic": ["MTL"]}, ['logentic: expected {"<warehouse>": {"<sku>": units}}']),
        ({"logentic": {"MTL": 5}}, ['logentic.MTL: expected {"<sku>": units}']),
        (
            {"logentic": {"MTL": {"MUG": -1, "TSHIRT-M": 1.5, "BOOT-42": True}}},
            [
                "logentic.MTL.MUG: units must be 0 or more, not -1",
                "logentic.MTL.TSHIRT-M: units must be a whole number, not 1.5",
                "logentic.MTL.BOOT-42: units must be a whole number, not True",
            ],
        ),
        (
            {"logentik": {}, "logentic": {"MTL": {" ": 1}, "VAN": {}}},
            [
                "logentik: not a configured provider (configured: flexport, logentic, logitrail)",
                "logentic.MTL: a SKU must not be blank",
                "logentic.VAN: not a warehouse of logentic (configured: MTL, TOR)",
            ],
        ),
    ],
    ids=["not-json", "not-an-object", "provider-shape", "warehouse-shape", "units", "names"],
)
def test_a_file_that_is_not_a_stock_file_exits_1_naming_each_problem(
    tmp_path: Path, stock: object, problems: list[str]
) -> None:
    code, out, err = _route(tmp_path, stock)
    assert (code, out) == (1, "")
    head, *lines = err.strip().splitlines()
    assert head == f"gateway: {tmp_path / 'stock.json'} is not a stock file:"
    assert len(lines) == len(problems)
    for line, problem in zip(lines, problems, strict=True):
        assert line.strip().startswith(problem), line


def test_stock_does_not_go_with_replay(tmp_path: Path) -> None:
    code, _out, err = gateway(
        "route", "--config", str(SHIPPED), "--replay", str(SHIPPED), "--since",
        "2026-12-01T00:00:00Z", "--stock", str(tmp_path / "stock.json"),
    )  # fmt: skip
    assert code == 2
    assert "--stock goes with an order file, not with --replay" in err


def test_a_missing_stock_file_says_so_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    code, out, err = gateway(
        "route", "--config", str(SHIPPED), str(SAMPLE_CA), "--stock", str(missing)
    )
    assert (code, out) == (1, "")
    assert err.strip() == f"gateway: cannot read {missing}: No such file or directory"
