"""`gateway route --replay RULES.toml`: the routing replay from the command line, over the
configured store opened read-only, on SQLite and PostgreSQL.

The store is seeded through the store API with orders as the gateway stores them (routed by
the shipped config's rules, or held by its hold rule); the command runs as a child process
with no secret set, and must leave the store exactly as it found it.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.config_load import load
from gateway.errors import StoreUnavailable
from gateway.model.ids import new_order_id
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.routing.evaluate import route
from gateway.routing.holds import held
from gateway.store import NewOrder, open_store
from gateway.store.records import UNROUTED
from tests.makefile import ROOT
from tests.system.test_cli import SAMPLE, SHIPPED, gateway

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp()
SINCE, UNTIL = "2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"

# Nordic orders to Flexport; no default, so what only the default took becomes unroutable.
TO_FLEXPORT = """[[routing.rules]]
name = "nordics-moved"
when = { country = ["FI", "SE"] }
candidates = [{ provider = "flexport", warehouse = "auto" }]
"""
SECOND_CLIENT = '\n[[clients]]\nid = "storefront-se"\nkey_env = "STOREFRONT_SE_KEY"\n'


def config_on(tmp_path: Path, url: str, text: str | None = None) -> Path:
    """The shipped config (or `text`) on the store at `url`."""
    source = SHIPPED.read_text() if text is None else text
    assert '"sqlite:///var/gateway.db"' in source
    path = tmp_path / "gateway.toml"
    path.write_text(source.replace('"sqlite:///var/gateway.db"', f'"{url}"'))
    return path


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def sample(external_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(SAMPLE.read_bytes())
    body["external_id"] = external_id
    for key, value in changes.items():
        if key == "country":
            body["address"]["country_code"] = value
        else:
            body[key] = value
    return body


async def seed(url: str, orders: list[tuple[float, str, dict[str, Any]]]) -> list[str]:
    """Store `(epoch, client, body)` orders as the gateway would under the shipped config:
    held by its hold rule, or routed by its rules; their ids."""
    settings = load(SHIPPED, secrets_under=())
    store = await open_store(url)
    ids = []
    try:
        for at, client, body in orders:
            order = CanonicalOrder.model_validate(body)
            when = datetime.fromtimestamp(at, UTC)
            hold = held(order, settings.holds, when).hold
            decision = route(order, settings.routing, now=when).decision
            assert decision is not None
            where = (
                (decision.provider, decision.warehouse, decision.rule, decision.candidate)
                if hold is None
                else (UNROUTED, UNROUTED, UNROUTED, 0)
            )
            row = await store.insert_order(
                NewOrder(
                    new_order_id(at),
                    client,
                    order.external_id,
                    *where,
                    body=order.model_dump_json(),
                    status=Status.ACCEPTED if hold is None else Status.ON_HOLD,
                    phase=Phase.PENDING if hold is None else Phase.HELD,
                    hold_reason=None if hold is None else hold.reason,
                    hold_since=None if hold is None else at,
                ),
                now=at,
                idempotency=None,
                lease_owner=None,
                lease_until=None,
            )
            ids.append(row.id)
    finally:
        await store.close()
    return ids


async def snapshot(url: str, tmp_path: Path) -> Any:
    """The store as it is: the SQLite file's bytes and its WAL's (a reader may leave an empty
    WAL and the `-shm` index of it behind: no data), or every PostgreSQL row."""
    if url.startswith("sqlite:"):
        files = [tmp_path / "store.db", tmp_path / "store.db-wal"]
        return {f.name: f.read_bytes() for f in files if f.exists() and f.stat().st_size}
    conn = await asyncpg.connect(url)  # `search_path` from the URL
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        assert "orders" in tables
        return {t: sorted(map(tuple, await conn.fetch(f"SELECT * FROM {t}"))) for t in tables}
    finally:
        await conn.close()


def schema(url: str) -> str:
    return url.split("search_path=")[1]


def replay(config: Path, rules: Path, *args: str) -> tuple[int, str, str]:
    return gateway("route", "--config", str(config), "--replay", str(rules), *args)


async def test_replay_shows_what_would_move_and_leaves_the_store_as_it_was(
    tmp_path: Path, store_url: str
) -> None:
    ids = await seed(
        store_url,
        [
            (T0 - 60, "storefront-fi", sample("EARLY")),  # before --since
            (T0 + 1, "storefront-fi", sample("FI-1")),
            (T0 + 2, "storefront-fi", sample("DE-1", country="DE")),  # the default took it
            (T0 + 3, "storefront-fi", sample("FI-HELD", tags=["review"])),
            (T0 + 4, "storefront-se", sample("SE-1", country="SE")),  # another tenant's
            (T0 + 7200, "storefront-fi", sample("LATE")),  # after --until
        ],
    )
    config = config_on(tmp_path, store_url, SHIPPED.read_text() + SECOND_CLIENT)
    rules = rules_file(tmp_path, TO_FLEXPORT)
    before = await snapshot(store_url, tmp_path)

    code, out, err = replay(
        config, rules, "--since", SINCE, "--until", UNTIL, "--tenant", "storefront-fi"
    )

    assert code == 0, err
    assert await snapshot(store_url, tmp_path) == before
    answer = orjson.loads(out)
    assert [o["id"] for o in answer["orders"]] == ids[1:4]
    fi, de, on_hold = answer["orders"]
    assert fi["current"]["provider"] == "logitrail"
    assert fi["current"]["rule"] == "nordics"
    assert (fi["proposed"]["provider"], fi["proposed"]["warehouse"]) == ("flexport", "auto")
    assert fi["proposed"]["rule"] == "nordics-moved"
    assert fi["proposed"]["queued"] is False  # offline, every configured provider is healthy
    assert fi["moved"] is True
    assert de["current"]["rule"] == "default"
    assert "no rule matched" in de["proposed"]["reason"]
    assert on_hold["current"]["held"] == "manual-review"
    assert on_hold["proposed"]["held"] == "manual-review"  # the hold rules configured now
    assert on_hold["moved"] is False
    assert answer["summary"] == {
        "total": 3,
        "moved": 2,
        "moves": [
            {"from": "flexport/auto", "to": "unroutable", "count": 1},
            {"from": "logitrail/FI-VANTAA", "to": "flexport/auto", "count": 1},
        ],
        "unroutable": [ids[2]],
        "held": 1,
    }
    assert answer["window"] == {
        "since": "2026-11-02T09:00:00.000Z",
        "until": "2026-11-02T10:00:00.000Z",
        "limit": 1000,
    }
    assert answer["truncated"] is False
    assert answer["health"] == "assumed healthy (offline)"
    assert answer["stock"].startswith("unknown (offline)")

    # The other tenant sees its own order; --limit takes the oldest and says it cut.
    code, out, err = replay(
        config, rules, "--since", SINCE, "--until", UNTIL, "--tenant", "storefront-se"
    )
    assert code == 0, err
    assert [o["external_id"] for o in orjson.loads(out)["orders"]] == ["SE-1"]
    code, out, err = replay(
        config, rules, "--since", SINCE, "--limit", "1", "--tenant", "storefront-fi"
    )
    assert code == 0, err
    page = orjson.loads(out)
    assert ([o["id"] for o in page["orders"]], page["truncated"]) == ([ids[1]], True)
    assert await snapshot(store_url, tmp_path) == before


def readme_example() -> tuple[str, list[str]]:
    """The README's `gateway route --replay` example: its rules file, its command's arguments."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Routing replay") :]
    section = section[: section.index("\n### ")]
    rules = section.split("```toml\n")[1].split("```")[0]
    command = section.split("```sh\ngateway ")[1].split("```")[0]
    return rules, shlex.split(command.replace("\\\n", " "))


async def test_the_readme_example_runs_as_written(tmp_path: Path, store_url: str) -> None:
    rules_text, args = readme_example()
    [fi] = await seed(store_url, [(time.time() - 60, "storefront-fi", sample("README-1"))])
    rules = rules_file(tmp_path, rules_text)
    given = {
        "config/gateway.toml": str(config_on(tmp_path, store_url)),
        "proposed.toml": str(rules),
    }
    code, out, err = gateway(*(given.get(a, a) for a in args))
    assert code == 0, err
    answer = orjson.loads(out)
    assert [o["id"] for o in answer["orders"]] == [fi]
    assert answer["summary"]["moves"] == [
        {"from": "logitrail/FI-VANTAA", "to": "flexport/auto", "count": 1}
    ]


async def test_the_only_client_is_the_tenant_and_several_need_one_named(
    tmp_path: Path, store_url: str
) -> None:
    ids = await seed(store_url, [(T0 + 1, "storefront-fi", sample("FI-1"))])
    rules = rules_file(tmp_path, "")  # no section: the routing configured now
    code, out, err = replay(config_on(tmp_path, store_url), rules, "--since", SINCE)
    assert code == 0, err
    answer = orjson.loads(out)
    assert [o["id"] for o in answer["orders"]] == ids
    assert answer["summary"]["moved"] == 0

    config = config_on(tmp_path, store_url, SHIPPED.read_text() + SECOND_CLIENT)
    code, out, err = replay(config, rules, "--since", SINCE)
    assert (code, out) == (1, "")
    assert err.strip() == (
        "gateway: --tenant CLIENT_ID is required (configured clients: storefront-fi, storefront-se)"
    )
    code, out, err = replay(config, rules, "--since", SINCE, "--tenant", "nobody")
    assert (code, out) == (1, "")
    assert "no client 'nobody' is configured" in err


async def test_a_store_opened_read_only_refuses_every_write(store_url: str) -> None:
    await seed(store_url, [(T0 + 1, "storefront-fi", sample("FI-1"))])
    store = await open_store(store_url, read_only=True)
    body = CanonicalOrder.model_validate(sample("FI-2")).model_dump_json()
    new = NewOrder(
        new_order_id(T0 + 2), "storefront-fi", "FI-2", "logitrail", "FI-VANTAA", "nordics", 0, body
    )
    try:
        with pytest.raises((StoreUnavailable, asyncpg.ReadOnlySQLTransactionError)):
            await store.insert_order(
                new, now=T0 + 2, idempotency=None, lease_owner=None, lease_until=None
            )
        assert [
            o.external_id
            for o in await store.orders_created(
                "storefront-fi",
                since=datetime.fromtimestamp(T0, UTC),
                until=datetime.fromtimestamp(T0 + 10, UTC),
                limit=10,
            )
        ] == ["FI-1"]
    finally:
        await store.close()
