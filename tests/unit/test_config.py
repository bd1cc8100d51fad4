"""Config file: every problem is found, each names its key."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config_load import load, parse
from gateway.errors import ConfigError
from gateway.model.clients import Client, part_reference

ROOT = Path(__file__).resolve().parents[2]
ENV = {"K": "key", "ID": "id", "SECRET": "v4lue-0f-the-s3cret"}


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "clients": [{"id": "shop", "key_env": "K"}],
        "providers": {
            "logitrail": {
                "base_url": "https://api.example",
                "token_url": "https://idp.example/token",
                "client_id_env": "ID",
                "client_secret_env": "SECRET",
                "merchant_id": "M-1",
                "warehouses": {"FI-VANTAA": {}},
            }
        },
        "routing": {
            "rules": [
                {
                    "name": "fi",
                    "when": {"country": "FI"},
                    "candidates": [{"provider": "logitrail", "warehouse": "FI-VANTAA"}],
                }
            ]
        },
    }
    data.update(extra)
    return data


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse(data, ENV if env is None else env)
    return {p.loc: p.msg for p in info.value.problems}


def test_valid_config_resolves_secrets_without_showing_them() -> None:
    settings = parse(base(), ENV)
    assert settings.secrets.reveal("SECRET") == "v4lue-0f-the-s3cret"
    assert "v4lue" not in repr(settings.secrets)
    assert "v4lue" not in repr(settings)
    assert "v4lue" not in str(settings.model_dump())


def test_missing_environment_variable_names_the_key() -> None:
    found = problems(base(), {"K": "key", "ID": "id"})
    assert found == {
        "providers.logitrail.client_secret_env": "environment variable SECRET is not set or empty"
    }


def test_unknown_provider_is_named() -> None:
    data = base()
    data["providers"]["acme"] = {"base_url": "https://acme"}
    found = problems(data)
    assert "providers.acme" in found
    assert "logitrail" in found["providers.acme"]  # the message lists the known ones


def test_rule_naming_unknown_provider_or_warehouse() -> None:
    data = base(
        routing={
            "rules": [
                {"name": "a", "candidates": [{"provider": "nope", "warehouse": "X"}]},
                {"name": "b", "candidates": [{"provider": "logitrail", "warehouse": "NOWHERE"}]},
            ],
            "default": {"provider": "logitrail", "warehouse": "ALSO-NOT"},
        }
    )
    found = problems(data)
    assert "routing.rules.0.candidates.0.provider" in found
    assert "routing.rules.1.candidates.0.warehouse" in found
    assert "NOWHERE" in found["routing.rules.1.candidates.0.warehouse"]
    assert "routing.default.warehouse" in found


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite://var/x.db", "postgresql:///nodb", "not a url"]
)
def test_malformed_store_url(url: str) -> None:
    assert "store.url" in problems(base(store={"url": url}))


def test_unknown_keys_are_reported_everywhere_at_once() -> None:
    data = base(server={"port": 1, "colour": "blue"})
    data["providers"]["logitrail"]["tokenurl"] = "x"
    found = problems(data, {})
    assert found["server.colour"] == "unknown key"
    assert found["providers.logitrail.tokenurl"] == "unknown key"


def test_client_needs_exactly_one_kind_of_key() -> None:
    found = problems(base(clients=[{"id": "shop"}]))
    assert any(loc.startswith("clients.0") for loc in found)


def test_two_clients_with_one_key_are_refused_naming_both() -> None:
    same_env = [{"id": "shop", "key_env": "K"}, {"id": "other-shop", "key_env": "K2"}]
    found = problems(base(clients=same_env), {**ENV, "K2": "key"})  # K and K2 hold one value
    assert found == {
        "clients.1.key_env": "clients 'shop' and 'other-shop' have the same key;"
        " each client needs its own"
    }

    digest = hashlib.sha256(b"key").hexdigest()  # the value of K, given as its digest
    mixed = [
        {"id": "shop", "key_env": "K"},
        {"id": "b", "key_sha256": hashlib.sha256(b"b").hexdigest()},
        {"id": "c", "key_sha256": digest},
    ]
    found = problems(base(clients=mixed))
    assert found == {
        "clients.2.key_sha256": "clients 'shop' and 'c' have the same key;"
        " each client needs its own"
    }


def test_duplicate_rule_names_are_refused() -> None:
    rule = {"name": "x", "candidates": [{"provider": "logitrail", "warehouse": "FI-VANTAA"}]}
    assert "routing" in problems(base(routing={"rules": [rule, rule]}))


def test_shipped_config_files_are_valid() -> None:
    demo_env = {
        "GATEWAY_KEY_STOREFRONT_FI": "k",
        "LOGITRAIL_CLIENT_ID": "i",
        "LOGITRAIL_CLIENT_SECRET": "s",
        "LOGENTIC_API_TOKEN": "t",
        "LOGENTIC_WEBHOOK_SECRET": "w",
        "LOGITRAIL_WEBHOOK_TOKEN": "lt",
        "FLEXPORT_TOKEN": "f",
        "FLEXPORT_WEBHOOK_SECRET": "fw",
        "GATEWAY_KEY_STOREFRONT_CA": "k2",
        "DEMO_SUBSCRIBER_SECRET": "whsec_" + "A" * 43 + "=",
    }
    for path in sorted((ROOT / "config").glob("*.toml")):
        load(path, environ=demo_env)


def _check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": "", **env},
        cwd=ROOT,
        check=False,
    )


def test_check_config_prints_ok(tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text('[[clients]]\nid = "a"\nkey_env = "K"\n')
    result = _check(path, {"K": "x"})
    assert (result.returncode, result.stdout.splitlines()) == (0, ["file: ok", "environment: ok"])


def test_check_config_prints_every_problem_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text(
        '[store]\nurl = "mysql://x"\n\n[[clients]]\nid = "a"\nkey_env = "K"\n\n'
        '[providers.acme]\nbase_url = "https://x"\n'
    )
    result = _check(path, {})
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 1
    assert any(line.startswith("file: store.url:") for line in lines)
    assert any(line.startswith("file: providers.acme:") for line in lines)
    assert "environment: missing K (clients.0.key_env)" in lines


def test_check_config_reports_toml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text("[server\nport = 1\n")
    result = _check(path, {})
    assert result.returncode != 0
    assert "not valid TOML" in result.stdout


@pytest.mark.parametrize(
    ("condition", "value"), [("country", []), ("tags_all", []), ("metadata", {})]
)
def test_an_empty_condition_is_a_mistake_named_by_key(condition: str, value: object) -> None:
    data = base()
    data["routing"]["rules"][0]["when"] = {condition: value}
    assert f"routing.rules.0.when.{condition}" in problems(data)


def test_subscribers_are_checked_by_key() -> None:
    sub = {"id": "oms", "client": "shop", "url": "https://oms.example/hooks", "secret_env": "SUB"}
    found = problems(
        base(subscribers=[sub, {**sub, "client": "nobody"}]), {**ENV, "SUB": "notbase64!!"}
    )
    assert found["subscribers.0.secret_env"].startswith("SUB must hold a Standard Webhooks secret")
    assert "nobody" in found["subscribers.1.client"]
    assert found["subscribers.1.id"] == "duplicate subscriber id 'oms'"
    assert "subscribers.0.url" in problems(base(subscribers=[{**sub, "url": "ftp://x"}]))
    good = parse(base(subscribers=[sub]), {**ENV, "SUB": "whsec_" + "A" * 43 + "="})
    assert good.subscribers[0].max_attempts == 15


def test_scale_out_keys_have_defaults_and_bounds() -> None:
    settings = parse(base(), ENV)
    assert settings.server.replicas == 1
    assert (settings.store.pool_size, settings.store.migrate_on_start) == (10, True)
    assert settings.redis is None
    found = problems(
        base(
            server={"replicas": 0},
            store={"url": "postgresql://db/gw", "pool_size": 0},
            redis={"url": "redis://r:6379/0", "key_prefix": "has space"},
        )
    )
    assert {"server.replicas", "store.pool_size", "redis.key_prefix"} <= set(found)


def test_webhook_events_are_remembered_thirty_days_unless_configured() -> None:
    assert parse(base(), ENV).idempotency.webhook_ttl_s == 30 * 86400
    settings = parse(base(idempotency={"webhook_ttl_s": 7 * 86400}), ENV)
    assert settings.idempotency.webhook_ttl_s == 7 * 86400
    assert "idempotency.webhook_ttl_s" in problems(base(idempotency={"webhook_ttl_s": 0}))


def test_store_connect_wait_has_a_default_and_bounds() -> None:
    assert parse(base(), ENV).store.connect_wait_s == 60
    assert parse(base(store={"connect_wait_s": 0}), ENV).store.connect_wait_s == 0
    for bad in (-1, 3601, float("inf")):
        assert "store.connect_wait_s" in problems(base(store={"connect_wait_s": bad}))


def test_redis_url_must_be_a_redis_url() -> None:
    assert "redis.url" in problems(base(redis={"url": "http://r:6379"}))
    settings = parse(base(redis={"url": "rediss://r:6380/1", "key_prefix": "gw-eu"}), ENV)
    assert settings.redis is not None
    assert settings.redis.key_prefix == "gw-eu"


def test_several_replicas_need_a_shared_store() -> None:
    found = problems(base(server={"replicas": 2}))
    assert "postgresql" in found["server.replicas"]
    parse(base(server={"replicas": 2}, store={"url": "postgresql://db/gw"}), ENV)


def test_store_and_redis_passwords_come_from_the_environment() -> None:
    data = base(
        store={"url": "postgresql://gw@db/gw", "password_env": "PG_PASSWORD"},
        redis={"url": "redis://r:6379/0", "password_env": "REDIS_PASSWORD"},
    )
    found = problems(data)
    assert "PG_PASSWORD" in found["store.password_env"]
    assert "REDIS_PASSWORD" in found["redis.password_env"]
    settings = parse(data, {**ENV, "PG_PASSWORD": "pg-secret", "REDIS_PASSWORD": "r-secret"})
    assert settings.store.password(settings.secrets) == "pg-secret"
    assert "pg-secret" not in repr(settings)


# tenant-qualified provider references ---------------------------------------------------


def test_two_clients_whose_provider_references_could_collide_are_refused() -> None:
    clients = [
        {"id": "shop", "key_env": "K"},
        {"id": "SHOP", "key_env": "K2"},  # a provider's look-up may ignore case
        {"id": "outlet", "key_env": "K3", "reference_prefix": "shop"},
        {"id": "renamed", "key_env": "K4", "reference_prefix": "old-name"},
    ]
    found = problems(base(clients=clients), {**ENV, "K2": "k2", "K3": "k3", "K4": "k4"})
    assert "'shop' and 'SHOP'" in found["clients.1.reference_prefix"]
    assert "'shop' and 'outlet'" in found["clients.2.reference_prefix"]
    assert "clients.3.reference_prefix" not in found


def test_a_reference_prefix_may_not_hold_the_separator() -> None:
    clients = [{"id": "shop", "key_env": "K", "reference_prefix": "a/b"}]
    assert "clients.0.reference_prefix" in problems(base(clients=clients))


@pytest.mark.parametrize("mark", ["#", "~"])
def test_a_client_id_or_prefix_may_not_hold_a_part_or_submission_mark(mark: str) -> None:
    """`#` qualifies a split order's part (`shop#2/…`), `~` a correction (`shop~2/…`): a
    prefix holding either could equal another tenant's part or correction reference."""
    clients = [
        {"id": "shop", "key_env": "K", "reference_prefix": f"shop{mark}2"},
        {"id": f"outlet{mark}2", "key_env": "K2"},
    ]
    found = problems(base(clients=clients))
    assert "should match pattern" in found["clients.0.reference_prefix"]
    assert "should match pattern" in found["clients.1.id"]


def test_a_clients_references_are_qualified_by_its_prefix_or_its_id() -> None:
    clients = [
        {"id": "shop", "key_env": "K"},
        {"id": "outlet", "key_env": "K2", "reference_prefix": "outlet-eu"},
    ]
    settings = parse(base(clients=clients), {**ENV, "K2": "k2"})
    assert [c.prefix for c in settings.clients] == ["shop", "outlet-eu"]


def test_a_parts_reference_is_qualified_by_its_number_after_a_corrections() -> None:
    client = Client("shop", frozenset(), reference_prefix="outlet-eu")
    assert client.reference("SHOP-1") == client.reference("SHOP-1", 1, 1) == "outlet-eu/SHOP-1"
    assert client.reference("SHOP-1", part=2) == "outlet-eu#2/SHOP-1"
    assert client.reference("SHOP-1", 2, 3) == "outlet-eu~2#3/SHOP-1"
    assert client.reference("SHOP-1", 2) == "outlet-eu~2/SHOP-1"
    # Derived from the order's own reference, as a released pre-order's parts are.
    for submission in (1, 2):
        order_ref = client.reference("a/b#c", submission)
        for part in (1, 2, 3):
            assert part_reference(order_ref, part) == client.reference("a/b#c", submission, part)
    assert part_reference("SHOP-1", 2) is None  # a reference stored before prefixes: not split
