"""`POST /v1/routing/replay` on both stores: proposed routing against a tenant's stored orders,
with no provider call and no write, refused (as `check-config` would) when invalid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.config_load import parse
from gateway.errors import ConfigError
from tests.conftest import (
    ENV,
    FlexportHandle,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    eventually,
    order,
    read_json,
    settings_dict,
)
from tests.unit.fakes import SkipAheadClock

Gateway = TestClient[Any, Any]

TO_FLEXPORT = {
    "rules": [
        {
            "name": "nordics-moved",
            "when": {"country": ["FI", "SE"]},
            "candidates": [{"provider": "flexport", "warehouse": "auto"}],
        }
    ]
}


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


async def submit(gateway: Gateway, body: dict[str, Any], client: str = "storefront-fi") -> Any:
    headers = auth(client, key=f"k-{client}-{body['external_id']}")
    resp = await gateway.post("/v1/orders", json=body, headers=headers)
    assert resp.status in (201, 202), await resp.text()
    return await read_json(resp)


async def replay(
    gateway: Gateway, body: dict[str, Any], client: str = "storefront-fi", status: int = 200
) -> Any:
    resp = await gateway.post("/v1/routing/replay", json=body, headers=auth(client))
    assert resp.status == status, await resp.text()
    return await read_json(resp)


async def everything(gateway: Gateway) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the gateway's store."""
    db = gateway.app[STORE]._db  # type: ignore[attr-defined]
    if db.dialect.name == "sqlite":
        listed = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        listed = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    tables = [r[0] for r in await db.reads.fetch_all(listed)]
    assert "orders" in tables
    return {
        t: sorted(tuple(str(v) for v in r) for r in await db.reads.fetch_all(f"SELECT * FROM {t}"))
        for t in tables
    }


async def settled(gateway: Gateway) -> dict[str, list[tuple[Any, ...]]]:
    """Every row, once the submits' answers are kept (written after they were answered)."""

    async def check() -> Any:
        rows = await everything(gateway)
        return rows if not any("running" in r for r in rows["idempotency"]) else None

    return await eventually(check)


def calls(*handles: SandboxHandle | LogenticHandle | FlexportHandle) -> list[int]:
    return [len(h.sandbox.requests) for h in handles]


async def test_replay_shows_what_would_move_and_sends_and_stores_nothing(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    flexport: FlexportHandle,
    clock: SkipAheadClock,
) -> None:
    gateway = await make_gateway()
    since = stamp(clock.time() - 1)
    first = await submit(gateway, order("RP-1"))
    second = await submit(gateway, order("RP-2"))
    german = order("RP-3")
    german["address"]["country_code"] = "DE"  # no rule takes it today: refused, not stored
    refused = await gateway.post("/v1/orders", json=german, headers=auth(key="k-de"))
    assert refused.status == 422
    other = await submit(gateway, order("RP-SE"), client="storefront-se")
    assert {first["status"], second["status"], other["status"]} == {"submitted"}
    before_rows = await settled(gateway)
    before_calls = calls(logitrail, logentic, flexport)

    answer = await replay(gateway, {"routing": TO_FLEXPORT, "since": since})

    assert calls(logitrail, logentic, flexport) == before_calls
    assert await everything(gateway) == before_rows
    assert [o["id"] for o in answer["orders"]] == [first["id"], second["id"]]  # oldest first
    one = answer["orders"][0]
    assert one["external_id"] == "RP-1"
    assert one["current"]["provider"] == "logitrail"
    assert one["current"]["warehouse"] == "FI-VANTAA"
    assert one["current"]["rule"] == "nordics"
    assert one["proposed"]["provider"] == "flexport"
    assert one["proposed"]["warehouse"] == "auto"
    assert one["proposed"]["rule"] == "nordics-moved"
    assert one["proposed"]["queued"] is False
    assert one["moved"] is True
    assert answer["summary"] == {
        "total": 2,
        "moved": 2,
        "moves": [{"from": "logitrail/FI-VANTAA", "to": "flexport/auto", "count": 2}],
        "unroutable": [],
        "held": 0,
    }
    assert answer["truncated"] is False
    assert answer["window"]["since"].startswith(since[:19])
    assert answer["window"]["limit"] == 1000

    # The other tenant sees its own order only.
    theirs = await replay(gateway, {"routing": TO_FLEXPORT, "since": since}, "storefront-se")
    assert [o["id"] for o in theirs["orders"]] == [other["id"]]


async def test_replay_routes_on_the_stock_the_caches_hold_without_reading_it_again(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(providers__logentic__stock_cache_ttl_s=1)
    since = stamp(clock.time() - 1)
    logentic.sandbox.set_stock("TSHIRT-M", 1, 1)  # MTL holds 1, the order needs 2
    placed = await submit(gateway, ca_order("RS-1"))
    assert placed["warehouse"] == "TOR"  # routing read the stock (and cached it)
    logentic.sandbox.set_stock("TSHIRT-M", 2, 0)  # gone since: the replay does not know
    await clock.advance(5)  # past the cache's TTL: still what replay uses
    before = calls(logentic)
    stock_first = {
        "rules": [
            {
                "name": "na-stock",
                "when": {"country": ["CA"]},
                "stock_aware": True,
                "candidates": [
                    {"provider": "logentic", "warehouse": "MTL"},
                    {"provider": "logentic", "warehouse": "TOR"},
                ],
            }
        ]
    }

    answer = await replay(gateway, {"routing": stock_first, "since": since})

    assert calls(logentic) == before
    [one] = answer["orders"]
    # With no stock known, MTL (the first healthy) would take it as a back-order.
    assert (one["proposed"]["warehouse"], one["proposed"]["rule"]) == ("TOR", "na-stock")
    assert one["moved"] is False


async def test_unchanged_unroutable_held_and_truncated(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await make_gateway()
    since = stamp(clock.time() - 1)
    ids = [(await submit(gateway, order(f"U-{i}", tags=[f"t{i}"])))["id"] for i in range(3)]

    # The routing configured now, as proposed: nothing moves.
    same = await replay(gateway, {"since": since})
    assert same["summary"]["moved"] == 0
    assert [o["moved"] for o in same["orders"]] == [False, False, False]

    # Only GB is routed: every order would be refused.
    gb_only = {
        "rules": [
            {
                "name": "uk",
                "when": {"country": "GB"},
                "candidates": [{"provider": "flexport", "warehouse": "auto"}],
            }
        ]
    }
    none = await replay(gateway, {"routing": gb_only, "since": since})
    assert none["summary"]["unroutable"] == ids
    assert none["summary"]["moves"] == [
        {"from": "logitrail/FI-VANTAA", "to": "unroutable", "count": 3}
    ]
    assert "no rule matched" in none["orders"][0]["proposed"]["reason"]

    # A hold rule taking one order; the rest stay where they are.
    holds = [{"name": "check-t1", "when": {"tags_any": ["t1"]}, "until_h": 2}]
    held = await replay(gateway, {"holds": holds, "since": since})
    assert held["summary"]["held"] == 1
    assert held["summary"]["moves"] == [
        {"from": "logitrail/FI-VANTAA", "to": "held:check-t1", "count": 1}
    ]
    assert held["orders"][1]["proposed"]["held"] == "check-t1"
    assert held["orders"][1]["proposed"]["held_until"] is not None
    assert held["orders"][1]["proposed"]["provider"] is None

    # Over the limit: the oldest `limit`, and said so.
    page = await replay(gateway, {"since": since, "limit": 2})
    assert [o["id"] for o in page["orders"]] == ids[:2]
    assert page["truncated"] is True

    # A window before the orders: none.
    early = await replay(gateway, {"since": stamp(0), "until": since})
    assert early["orders"] == []
    assert early["summary"]["total"] == 0


async def test_an_order_held_now_is_current_held(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(holds=[{"name": "fraud", "when": {"tags_any": ["risky"]}}])
    since = stamp(clock.time() - 1)
    on_hold = await submit(gateway, order("HOLD-1", tags=["risky"]))
    assert on_hold["status"] == "on_hold"
    answer = await replay(gateway, {"holds": [], "since": since})
    replayed = answer["orders"][0]
    assert replayed["current"]["held"] == "fraud"
    assert replayed["proposed"]["provider"] == "logitrail"
    assert answer["summary"]["moves"] == [
        {"from": "held:fraud", "to": "logitrail/FI-VANTAA", "count": 1}
    ]


UNKNOWN_NAMES = {
    "rules": [
        {"name": "bad", "candidates": [{"provider": "nope", "warehouse": "X"}]},
        {
            "name": "wrong-warehouse",
            "candidates": [{"provider": "logitrail", "warehouse": "SE-NOWHERE"}],
        },
    ],
    "default": {"provider": "flexport", "warehouse": "nowhere"},
}
BAD_CONDITION = {
    "rules": [
        {
            "name": "bad",
            "when": {"colour": "red", "weight_g": {"min": 5, "max": 1}},
            "candidates": [{"provider": "logitrail", "warehouse": "FI-VANTAA"}],
        }
    ]
}


def check_config_problems(tmp_path: Path, section: str, value: Any) -> list[str]:
    """What `check-config` says of the gateway's config file with `section` replaced."""
    data = settings_dict(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2/v1", "http://x")
    data[section] = value
    with pytest.raises(ConfigError) as caught:
        parse(data, ENV)
    return [str(p) for p in caught.value.problems]


async def test_invalid_proposed_routing_is_refused_as_check_config_refuses_it(
    make_gateway: Callable[..., Any], tmp_path: Path
) -> None:
    gateway = await make_gateway()
    since = "2026-01-01T00:00:00Z"
    problem = await replay(gateway, {"routing": UNKNOWN_NAMES, "since": since}, status=422)
    assert problem["code"] == "routing-invalid"
    said = [f"{e['loc']}: {e['msg']}" for e in problem["errors"]]
    assert said == check_config_problems(tmp_path, "routing", UNKNOWN_NAMES)
    assert len(said) == 3
    assert said[0].startswith("routing.rules.0.candidates.0.provider: names provider 'nope'")
    assert "SE-NOWHERE" in said[1]
    assert said[2].startswith("routing.default.warehouse")
    assert all(e["rule"] == "check-config" for e in problem["errors"])

    problem = await replay(gateway, {"routing": BAD_CONDITION, "since": since}, status=422)
    said = [f"{e['loc']}: {e['msg']}" for e in problem["errors"]]
    assert said == check_config_problems(tmp_path, "routing", BAD_CONDITION)
    assert "routing.rules.0.when.colour: unknown key" in said
    assert any("min must not exceed max" in s for s in said)

    bad_holds = [{"name": "a"}, {"name": "a", "until_h": -1}]
    problem = await replay(gateway, {"holds": bad_holds, "since": since}, status=422)
    said = [f"{e['loc']}: {e['msg']}" for e in problem["errors"]]
    assert said == check_config_problems(tmp_path, "holds", bad_holds)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"since": "2026-01-01T00:00:00Z", "limit": 10001}, "limit"),
        ({"since": "2026-01-01T00:00:00Z", "limit": 0}, "limit"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "body"),
        ({"since": "yesterday"}, "since"),
        ({}, "since"),
        ({"since": "2026-01-01T00:00:00Z", "rules": []}, "rules"),
    ],
)
async def test_a_bad_window_is_a_clear_422(
    make_gateway: Callable[..., Any], body: dict[str, Any], loc: str
) -> None:
    gateway = await make_gateway()
    problem = await replay(gateway, body, status=422)
    assert problem["code"] == "validation"
    assert loc in [e["loc"] for e in problem["errors"]]
