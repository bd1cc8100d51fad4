"""The `gateway` command on the shipped config, as a newcomer runs it: no secrets set.

Offline commands (`route`, `migrate`) need none; every command takes `--config FILE`;
`check-config` says whether the file or the environment is at fault; `route` exits non-zero
for an order no rule takes and prints the API's `{loc, msg, rule}` errors for one that is
not an order; `migrate` says which versions it applied, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gateway.store.sqlite import SQLITE
from tests.makefile import DEMO_ENV, ROOT

SHIPPED = ROOT / "config" / "gateway.toml"
SAMPLE = ROOT / "config" / "sample-order.json"


def gateway(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run `gateway ARGS` with only PATH (and `env`) in its environment: no demo secret."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env={"PATH": os.environ.get("PATH", ""), "GATEWAY_LOG_FORMAT": "json", **(env or {})},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def sqlite_config(tmp_path: Path, text: str | None = None) -> Path:
    """The shipped config (or `text`) on a database file of its own."""
    source = text if text is not None else SHIPPED.read_text()
    assert '"sqlite:///var/gateway.db"' in source
    path = tmp_path / "gateway.toml"
    path.write_text(source.replace('"sqlite:///var/gateway.db"', f'"sqlite:///{tmp_path}/g.db"'))
    return path


def test_route_on_the_shipped_config_needs_no_secret() -> None:
    code, out, err = gateway("route", "--config", str(SHIPPED), str(SAMPLE))
    assert code == 0, err
    decision = orjson.loads(out)["decision"]
    assert (decision["rule"], decision["provider"]) == ("nordics", "logitrail")


def test_route_shows_the_hold_rule_that_matched_and_why_others_did_not() -> None:
    order = orjson.loads(SAMPLE.read_bytes())
    code, out, err = gateway("route", "--config", str(SHIPPED), "-", stdin=orjson.dumps(order))
    assert code == 0, err
    explained = orjson.loads(out)
    assert explained["hold"] is None
    [rule] = explained["holds"]
    assert (rule["rule"], rule["matched"]) == ("manual-review", False)
    assert "none of [review]" in rule["conditions"][0]["detail"]
    order["tags"] = ["review"]
    code, out, err = gateway("route", "--config", str(SHIPPED), "-", stdin=orjson.dumps(order))
    assert code == 0, err
    assert orjson.loads(out)["hold"] == {"reason": "manual-review", "until": None}


def test_route_reads_the_order_from_stdin() -> None:
    code, out, err = gateway("route", "--config", str(SHIPPED), "-", stdin=SAMPLE.read_bytes())
    assert code == 0, err
    assert orjson.loads(out)["decision"]["rule"] == "nordics"


def test_an_unroutable_order_exits_3_and_says_why(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    start = text.index("[routing.default]")
    config = sqlite_config(tmp_path, text[:start])  # the same rules, no default
    order = orjson.loads(SAMPLE.read_bytes())
    order["address"]["country_code"] = "DE"
    path = tmp_path / "order.json"
    path.write_bytes(orjson.dumps(order))
    code, out, err = gateway("route", "--config", str(config), str(path))
    assert code == 3
    assert orjson.loads(out)["decision"] is None
    assert err.startswith("gateway: unroutable: ")


def test_an_invalid_order_prints_the_api_422_errors(tmp_path: Path) -> None:
    order = orjson.loads(SAMPLE.read_bytes())
    order["lines"][0]["quantity"] = 0
    order["colour"] = "red"
    path = tmp_path / "order.json"
    path.write_bytes(orjson.dumps(order))
    code, out, err = gateway("route", "--config", str(SHIPPED), str(path))
    assert code == 1, err
    problem = orjson.loads(out)
    assert (problem["status"], problem["code"]) == (422, "validation")
    by_loc = {e["loc"]: e for e in problem["errors"]}
    assert set(by_loc) == {"lines[0].quantity", "colour"}
    assert by_loc["lines[0].quantity"]["rule"] == "greater_than_equal"
    assert by_loc["colour"]["msg"].startswith("unknown field")
    assert all(set(e) == {"loc", "msg", "rule"} for e in problem["errors"])
    assert "errors.pydantic.dev" not in out + err  # not pydantic's own dump


def test_route_on_a_file_that_is_not_json_is_the_api_400(tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text("{not json")
    code, out, _err = gateway("route", "--config", str(SHIPPED), str(path))
    assert code == 1
    assert orjson.loads(out)["code"] == "malformed-json"


def test_route_on_a_missing_order_file_says_so_in_one_line(tmp_path: Path) -> None:
    code, out, err = gateway("route", "--config", str(SHIPPED), str(tmp_path / "none.json"))
    assert (code, out) == (1, "")
    assert (
        err.strip() == f"gateway: cannot read {tmp_path / 'none.json'}: No such file or directory"
    )


def test_migrate_on_sqlite_names_the_versions_it_applied_then_says_up_to_date(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path)
    versions = [v for v, _n, _s in SQLITE.migrations()]
    code, out, err = gateway("migrate", "--config", str(config))
    assert (code, out.strip()) == (0, f"migrated: applied {versions}"), err
    code, out, err = gateway("migrate", "--config", str(config))
    assert (code, out.strip()) == (0, "migrated: already up to date"), err


def test_migrate_resolves_the_store_password_and_nothing_else(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[store]\nurl = "postgresql://gw@127.0.0.1:1/gw"\npassword_env = "DB_PASSWORD"\n\n'
        '[[clients]]\nid = "shop"\nkey_env = "SHOP_KEY"\n'
    )
    code, _out, err = gateway("migrate", "--config", str(config))
    assert code == 2
    assert "store.password_env: environment variable DB_PASSWORD is not set" in err
    assert "SHOP_KEY" not in err


def test_check_config_separates_the_file_from_the_environment() -> None:
    code, out, _err = gateway("check-config", "--config", str(SHIPPED))
    lines = out.splitlines()
    assert code == 2
    assert lines[0] == "file: ok"
    assert (
        "environment: missing LOGITRAIL_CLIENT_SECRET (providers.logitrail.client_secret_env)"
        in (lines)
    )
    assert len(lines) == 1 + len(DEMO_ENV)  # one line per variable the file names

    code, out, _err = gateway("check-config", "--file-only", "--config", str(SHIPPED))
    assert (code, out.splitlines()) == (0, ["file: ok"])

    code, out, _err = gateway("check-config", str(SHIPPED), env=DEMO_ENV)  # FILE still works
    assert (code, out.splitlines()) == (0, ["file: ok", "environment: ok"])


def test_check_config_says_a_set_variable_with_an_unusable_value_is_the_environment() -> None:
    env = {**DEMO_ENV, "DEMO_SUBSCRIBER_SECRET": "notbase64!!"}
    code, out, _err = gateway("check-config", "--config", str(SHIPPED), env=env)
    assert code == 2
    assert out.splitlines() == [
        "file: ok",
        "environment: subscribers.0.secret_env: DEMO_SUBSCRIBER_SECRET must hold a Standard"
        " Webhooks secret: whsec_<base64>",
    ]


def test_check_config_on_an_invalid_file_exits_1_and_still_lists_the_environment(
    tmp_path: Path,
) -> None:
    config = sqlite_config(tmp_path, SHIPPED.read_text().replace("port = 8080", "port = -1"))
    code, out, _err = gateway("check-config", "--config", str(config))
    lines = out.splitlines()
    assert code == 1
    assert [line for line in lines if line.startswith("file: ")] == [
        "file: server.port: Input should be greater than or equal to 0"
    ]
    assert "environment: missing FLEXPORT_TOKEN (providers.flexport.token_env)" in lines


@pytest.mark.parametrize("args", [[], ["a.toml", "--config", "b.toml"]])
def test_check_config_wants_the_file_exactly_once(args: list[str]) -> None:
    code, _out, err = gateway("check-config", *args)
    assert code == 2
    assert "give the config file once" in err
