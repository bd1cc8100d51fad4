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
from gateway.store.sqlite import SQLITE
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
BAD_ROUTING = """[[routing.rules]]
name = "bad"
candidates = [{ provider = "nope", warehouse = "X" }]

[[routing.rules]]
name = "wrong-warehouse"
candidates = [{ provider = "logitrail", warehouse = "SE-NOWHERE" }]

[routing.default]
provider = "flexport"
warehouse = "nowhere"
"""
BAD_HOLDS = """[[holds]]
name = "a"
when = { colour = "red" }

[[holds]]
name = "a"
until_h = -1
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


def check_config_says(tmp_path: Path, text: str) -> list[str]:
    """`check-config`'s problems of the shipped config with `text` in place of its routing
    rules or its hold rules (whichever `text` holds)."""
    shipped = SHIPPED.read_text()
    rules, holds = shipped.index("[[routing.rules]]"), shipped.index("[[holds]]")
    if text.startswith("[[holds]]"):
        config = shipped[:holds] + text
    else:
        config = shipped[:rules] + shipped[holds:] + "\n" + text
    path = tmp_path / "check.toml"
    path.write_text(config)
    code, out, _err = gateway("check-config", "--file-only", str(path))
    assert code == 1
    return [line.removeprefix("file: ") for line in out.splitlines()]


@pytest.mark.parametrize("text", [BAD_ROUTING, BAD_HOLDS], ids=["routing", "holds"])
def test_invalid_rules_exit_1_with_check_configs_messages(tmp_path: Path, text: str) -> None:
    rules = rules_file(tmp_path, text)
    config = config_on(tmp_path, f"sqlite:///{tmp_path}/none.db")  # not opened: rules first
    code, out, err = replay(config, rules, "--since", SINCE)
    assert (code, out) == (1, "")
    header, *problems = err.splitlines()
    assert header == f"gateway: {rules} has problems:"
    said = [p.removeprefix("  ") for p in problems]
    assert said == check_config_says(tmp_path, text)
    assert len(said) >= 2


@pytest.mark.parametrize(
    ("text", "said"),
    [("[routing\n", "is not valid TOML: "), (None, ": No such file or directory")],
    ids=["not-toml", "missing"],
)
def test_a_rules_file_that_is_not_one_exits_1(tmp_path: Path, text: str | None, said: str) -> None:
    rules = tmp_path / "rules.toml"
    if text is not None:
        rules.write_text(text)
    config = config_on(tmp_path, f"sqlite:///{tmp_path}/none.db")
    code, out, err = replay(config, rules, "--since", SINCE)
    assert (code, out) == (1, "")
    if text is None:
        assert err.strip() == f"gateway: cannot read {rules}{said}"
    else:
        assert err.startswith(f"gateway: {rules} {said}")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--since", UNTIL, "--until", SINCE], "gateway: --until must be later than --since"),
        (["--since", "2999-01-01T00:00:00Z"], "gateway: --until (default: now) must be later"),
        (["--since", "2026-11-02T09:00:00"], "gateway: --since: must be an RFC 3339 date-time"),
        (["--since", SINCE, "--until", "soon"], "gateway: --until: must be an RFC 3339"),
        (["--since", SINCE, "--limit", "0"], "gateway: --limit: Input should be greater"),
        (["--since", SINCE, "--limit", "10001"], "gateway: --limit: Input should be less"),
    ],
)
def test_a_window_that_is_not_one_exits_1(tmp_path: Path, args: list[str], said: str) -> None:
    config = config_on(tmp_path, f"sqlite:///{tmp_path}/none.db")
    code, out, err = replay(config, rules_file(tmp_path, TO_FLEXPORT), *args)
    assert (code, out) == (1, "")
    assert err.startswith(said), err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "give an order file, or --replay"),
        ([str(SAMPLE), "--replay", "r.toml", "--since", SINCE], "not both"),
        (["--replay", "r.toml"], "--replay needs --since"),
        ([str(SAMPLE), "--since", SINCE], "--since only go with --replay"),
        ([str(SAMPLE), "--limit", "5", "--tenant", "x"], "--limit, --tenant only go with"),
    ],
)
def test_route_wants_an_order_file_or_a_replay(args: list[str], said: str) -> None:
    code, _out, err = gateway("route", "--config", str(SHIPPED), *args)
    assert code == 2
    assert said in err


def test_a_missing_sqlite_store_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    config = config_on(tmp_path, f"sqlite:///{db}")
    code, out, err = replay(config, rules_file(tmp_path, TO_FLEXPORT), "--since", SINCE)
    assert (code, out) == (1, "")
    assert err.strip() == f"gateway: cannot open the store: SQLite database {db} does not exist"
    assert list(tmp_path.glob("none.db*")) == []


def test_a_sqlite_store_behind_the_code_is_refused_not_migrated(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.write_bytes(b"")  # an SQLite database with no table: every migration pending
    config = config_on(tmp_path, f"sqlite:///{db}")
    code, out, err = replay(config, rules_file(tmp_path, TO_FLEXPORT), "--since", SINCE)
    versions = [v for v, _n, _s in SQLITE.migrations()]
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"gateway: cannot open the store: SQLite database {db}: schema is behind"
        f" (migrations {versions} pending): run `gateway migrate --config FILE`"
    )
    assert db.read_bytes() == b""


async def test_a_postgres_store_behind_the_code_is_refused_not_migrated(
    tmp_path: Path, postgres_db: Any
) -> None:
    url = await postgres_db.new_schema_url()  # an empty schema
    config = config_on(tmp_path, url)
    code, out, err = replay(config, rules_file(tmp_path, TO_FLEXPORT), "--since", SINCE)
    assert (code, out) == (1, "")
    assert "schema is behind (migrations [1, " in err
    assert "run `gateway migrate --config FILE`" in err
    conn = await asyncpg.connect(url.split("?")[0])
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema(url)
        )
    finally:
        await conn.close()
    assert tables == 0


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


def test_replay_resolves_the_store_password_and_nothing_else(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[store]\nurl = "postgresql://gw@127.0.0.1:1/gw"\npassword_env = "DB_PASSWORD"\n'
        'connect_wait_s = 0\n\n[[clients]]\nid = "shop"\nkey_env = "SHOP_KEY"\n'
    )
    rules = rules_file(tmp_path, "")
    code, _out, err = replay(config, rules, "--since", SINCE)
    assert code == 2
    assert "store.password_env: environment variable DB_PASSWORD is not set" in err
    assert "SHOP_KEY" not in err

    # With it set: the store is tried, and a database that is not there is one line, exit 1.
    code, out, err = gateway(
        "route",
        "--config",
        str(config),
        "--replay",
        str(rules),
        "--since",
        SINCE,
        env={"DB_PASSWORD": "s3cret-pw"},
    )
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("gateway: cannot open the store: "), err
    assert "s3cret-pw" not in err
