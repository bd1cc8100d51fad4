"""Checks across the sections of a parsed config: what one section's schema cannot see.

A routing rule naming a provider or warehouse that is not configured, duplicate client or
subscriber ids, two clients with one key, several replicas on one SQLite file, a subscriber
secret that is not a Standard Webhooks key. `config_load.parse` runs them all and reports every
problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from gateway.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from gateway.config import ProviderSettings, Settings
    from gateway.model.secrets import Secrets
    from gateway.routing.rules import HoldRule, RoutingSettings


def route_references(
    routing: RoutingSettings, providers: Mapping[str, ProviderSettings], named: set[str]
) -> list[ConfigProblem]:
    problems = []

    def check(loc: str, provider: str, warehouse: str) -> None:
        if provider not in named:
            problems.append(
                ConfigProblem(
                    f"{loc}.provider",
                    f"names provider {provider!r}, which has no [providers.{provider}] block",
                )
            )
        elif provider in providers and warehouse not in providers[provider].warehouses:
            problems.append(
                ConfigProblem(
                    f"{loc}.warehouse",
                    f"names warehouse {warehouse!r}, which providers.{provider}.warehouses "
                    "does not list",
                )
            )

    for i, rule in enumerate(routing.rules):
        for j, cand in enumerate(rule.candidates):
            check(f"routing.rules.{i}.candidates.{j}", cand.provider, cand.warehouse)
    if routing.default is not None:
        check("routing.default", routing.default.provider, routing.default.warehouse)
    return problems


def reference_collisions(settings: Settings) -> list[ConfigProblem]:
    """Two tenants whose provider references could be equal: every tenant shares every
    provider account, so their prefixes must differ (also in case: a provider's look-up may
    ignore it)."""
    problems = []
    holder: dict[str, str] = {}
    for i, client in enumerate(settings.clients):
        prefix = client.prefix.casefold()
        if prefix in holder and holder[prefix] != client.id:
            problems.append(
                ConfigProblem(
                    f"clients.{i}.reference_prefix",
                    f"clients {holder[prefix]!r} and {client.id!r} would give providers the"
                    f" same references (prefix {client.prefix!r}): set a distinct"
                    " reference_prefix",
                )
            )
        holder.setdefault(prefix, client.id)
    return problems


def cross_references(settings: Settings) -> list[ConfigProblem]:
    problems = []
    seen: set[str] = set()
    for i, client in enumerate(settings.clients):
        problems += _once(seen, f"clients.{i}.id", "client", client.id)
    problems += reference_collisions(settings)
    subscriber_ids: set[str] = set()
    for i, sub in enumerate(settings.subscribers):
        problems += _once(subscriber_ids, f"subscribers.{i}.id", "subscriber", sub.id)
        if sub.client not in seen:
            problems.append(
                ConfigProblem(
                    f"subscribers.{i}.client",
                    f"names client {sub.client!r}, which is not configured",
                )
            )
    problems += operator_tenants(settings, seen)
    if settings.server.replicas > 1 and settings.store.url.startswith("sqlite:"):
        problems.append(
            ConfigProblem(
                "server.replicas",
                "several replicas need one shared store (store.url = postgresql://…);"
                " a SQLite file serves one process",
            )
        )
    if settings.redis is not None and urlsplit(settings.redis.url).scheme not in (
        "redis",
        "rediss",
        "unix",
    ):
        problems.append(
            ConfigProblem("redis.url", "must start with redis://, rediss:// or unix://")
        )
    return problems


def subscriber_secrets(settings: Settings, secrets: Secrets) -> list[ConfigProblem]:
    """Each subscriber's secret must be a Standard Webhooks key (`whsec_<base64>`)."""
    from standardwebhooks.webhooks import Webhook  # noqa: PLC0415 (only when configured)

    problems = []
    for i, sub in enumerate(settings.subscribers):
        if sub.secret_env not in secrets:
            continue  # reported as missing already
        try:
            Webhook(secrets.reveal(sub.secret_env))
        except Exception:  # binascii.Error, its own empty-secret error: the value is unusable
            problems.append(
                ConfigProblem(
                    f"subscribers.{i}.secret_env",
                    f"{sub.secret_env} must hold a Standard Webhooks secret: whsec_<base64>",
                    variable=sub.secret_env,
                )
            )
    return problems


def client_keys(settings: Settings, secrets: Secrets) -> list[ConfigProblem]:
    """Each client its own key: two with one key would be one tenant (the last one wins).

    Compared as SHA-256 digests, so a `key_env` value and a `key_sha256` of the same key
    are found too; the problem names the clients, never the key.
    """
    problems = []
    owner: dict[str, str] = {}
    for i, client in enumerate(settings.clients):
        if client.key_env is not None and client.key_env not in secrets:
            continue  # reported as missing already
        digest = client.key_digest(secrets)
        if digest in owner:
            loc = f"clients.{i}.{'key_env' if client.key_env else 'key_sha256'}"
            problems.append(
                ConfigProblem(
                    loc,
                    f"clients {owner[digest]!r} and {client.id!r} have the same key;"
                    " each client needs its own",
                )
            )
        else:
            owner[digest] = client.id
    return problems


def operator_tenants(settings: Settings, clients: set[str]) -> list[ConfigProblem]:
    """Each operator's tenants are configured clients (or `*`); operator ids are unique."""
    problems = []
    ids: set[str] = set()
    for i, op in enumerate(settings.operators):
        problems += _once(ids, f"operators.{i}.id", "operator", op.id)
        for tenant in op.tenants:
            if tenant != "*" and tenant not in clients:
                problems.append(
                    ConfigProblem(
                        f"operators.{i}.tenants",
                        f"names client {tenant!r}, which is not configured",
                    )
                )
    return problems


def _once(seen: set[str], key: str, what: str, ident: str) -> list[ConfigProblem]:
    """The problem at `key` where `ident` was seen before; `ident` is seen from now on."""
    repeated = ident in seen
    seen.add(ident)
    return [ConfigProblem(key, f"duplicate {what} id {ident!r}")] if repeated else []


def validation_problems(exc: ValidationError, prefix: str) -> list[ConfigProblem]:
    """A schema's errors as config problems, each at its dotted key under `prefix`."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(ConfigProblem(loc, msg))
    return out


PROPOSAL_KEYS = ("routing", "holds")


def proposed_routing(
    data: Mapping[str, Any], current: Settings
) -> tuple[RoutingSettings, list[HoldRule]]:
    """A proposed `[routing]` table and `[[holds]]` list (the config file's, as decoded TOML or
    JSON) checked as `check-config` checks them against `current`'s providers; a section left
    out is `current`'s. Raises `ConfigError` with every problem, worded as `check-config`'s."""
    from gateway.config import Settings  # noqa: PLC0415 (the schema, at run time)
    from gateway.routing.rules import RoutingSettings  # noqa: PLC0415

    problems = [ConfigProblem(key, "unknown key") for key in data if key not in PROPOSAL_KEYS]
    given = {key: data[key] for key in PROPOSAL_KEYS if key in data}
    parsed: Settings | None = None
    try:
        parsed = Settings.model_validate(given)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, ""))
    try:
        routing = RoutingSettings.model_validate(given.get("routing", {}))
    except ValidationError:
        pass  # reported above, with its location
    else:
        if "routing" in given:
            problems.extend(route_references(routing, current.providers, set(current.providers)))
    if problems or parsed is None:
        raise ConfigError(problems)
    return (
        parsed.routing if "routing" in given else current.routing,
        parsed.holds if "holds" in given else current.holds,
    )
