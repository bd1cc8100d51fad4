"""`gateway route --replay` refusing what it cannot run, each in a line or a few on stderr:
invalid rules (with `check-config`'s messages), a window or arguments that are not one, a
store that is missing, behind the code or unreachable, and only the store password resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.store.sqlite import SQLITE
from tests.system.test_cli import SAMPLE, SHIPPED, gateway
from tests.system.test_replay_cli import (
    SINCE,
    TO_FLEXPORT,
    UNTIL,
    config_on,
    replay,
    rules_file,
    schema,
)

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
