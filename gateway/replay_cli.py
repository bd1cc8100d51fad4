"""`gateway route --replay RULES.toml`: proposed routing against a tenant's stored orders, from
the command line — the replay `POST /v1/routing/replay` runs (`RoutingReplay`), over the
configured store opened read-only (nothing migrated, nothing written).

Offline no provider is asked anything, so every configured provider counts as healthy and no
stock is known (a stock-aware candidate is "stock unknown"); the answer says both, in `health`
and `stock`, next to the API's own fields.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from gateway.config import Settings
from gateway.config_checks import proposed_routing, validation_problems
from gateway.errors import ConfigError, StoreUnavailable
from gateway.orders.replay import RoutingReplay
from gateway.routing.replay_views import ReplayRequest
from gateway.store import open_store

HEALTH = "assumed healthy (offline)"
STOCK = "unknown (offline): stock-aware candidates count as stock unknown"
FLAGS = {"since": "--since", "until": "--until", "limit": "--limit"}


@dataclass(frozen=True, slots=True)
class ReplayArgs:
    """`gateway route --replay` as given on the command line."""

    rules: Path
    since: str
    until: str | None
    limit: int | None
    """None: the API's default."""
    tenant: str | None


class Refused(Exception):
    """What the command refuses, as the lines it prints on stderr (exit 1)."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0])
        self.lines = lines


async def run(settings: Settings, args: ReplayArgs, *, now: float) -> int:
    """The replay's answer as JSON on stdout (exit 0); what is wrong on stderr (exit 1): the
    rules file (with `check-config`'s messages), the window, the tenant, or the store."""
    try:
        proposal = read_rules(args.rules, settings)
        window = read_window(args, now)
        tenant = tenant_of(settings, args.tenant)
        answer = await replay(settings, tenant, proposal, window)
    except Refused as refused:
        for line in refused.lines:
            print(line, file=sys.stderr)
        return 1
    print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return 0


def read_rules(path: Path, settings: Settings) -> dict[str, Any]:
    """The `[routing]` and/or `[[holds]]` of a TOML file, checked as `check-config` checks a
    config file's (against `settings`' providers)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Refused(f"gateway: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Refused(f"gateway: {path} is not valid TOML: {exc}") from None
    try:
        proposed_routing(data, settings)
    except ConfigError as exc:
        lines = [f"  {problem}" for problem in exc.problems]
        raise Refused(f"gateway: {path} has problems:", *lines) from None
    return data


def read_window(args: ReplayArgs, now: float) -> ReplayRequest:
    """`--since`, `--until` (default: now) and `--limit`, checked as the API checks them."""
    until = args.until or datetime.fromtimestamp(now, UTC).isoformat()
    given = {"since": args.since, "until": until, "limit": args.limit}
    try:
        return ReplayRequest.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for problem in validation_problems(exc, ""):
            if problem.loc in FLAGS:
                lines.append(f"gateway: {FLAGS[problem.loc]}: {problem.msg}")
            else:  # between the two: the window is inverted
                default = "" if args.until else " (default: now)"
                lines.append(f"gateway: --until{default} must be later than --since")
        raise Refused(*lines) from None


def tenant_of(settings: Settings, asked: str | None) -> str:
    """`--tenant`, a configured client; without it, the only client configured."""
    ids = [client.id for client in settings.clients]
    known = ", ".join(ids) or "none"
    if asked is None:
        if len(ids) == 1:
            return ids[0]
        raise Refused(f"gateway: --tenant CLIENT_ID is required (configured clients: {known})")
    if asked not in ids:
        raise Refused(f"gateway: --tenant: no client {asked!r} is configured (configured: {known})")
    return asked


async def replay(
    settings: Settings, tenant: str, proposal: dict[str, Any], window: ReplayRequest
) -> dict[str, Any]:
    """`RoutingReplay` over the configured store, opened read-only; every configured provider
    healthy, no stock known."""
    assert window.until is not None  # read_window fills it in
    try:
        store = await open_store(
            settings.store.url,
            pool_size=1,
            read_only=True,
            password=settings.store.password(settings.secrets),
            connect_wait_s=settings.store.connect_wait_s,
        )
    except StoreUnavailable as exc:
        raise Refused(f"gateway: cannot open the store: {exc}") from None
    try:
        replaying = RoutingReplay(settings, store, healthy=lambda name: name in settings.providers)
        answer = await replaying.replay(
            tenant, proposal, since=window.since, until=window.until, limit=window.limit
        )
    except StoreUnavailable as exc:
        raise Refused(f"gateway: cannot read the store: {exc}") from None
    finally:
        await store.close()
    return answer.model_dump(mode="json") | {"health": HEALTH, "stock": STOCK}
