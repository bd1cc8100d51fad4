"""Reading the config file into `Settings`, every problem reported at once.

`load()` collects *all* problems — TOML syntax, schema, cross references (a rule naming an
unknown provider or warehouse), missing variables — into one `ConfigError`, each naming the
key it is about, so `gateway check-config` can print them together. Each `[providers.<name>]`
block is validated against the settings model of its provider package, which is why this
reader sits above `gateway.providers` while the settings themselves (`gateway.config`) sit
below everything that uses them. Commands that work offline resolve only the secrets they
use (`secrets_under`): `gateway route` none.
"""

from __future__ import annotations

import pkgutil
import tomllib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

import gateway.providers
from gateway.config import ProviderSettings, Settings, environment
from gateway.config_checks import (
    client_keys,
    cross_references,
    route_references,
    subscriber_secrets,
)
from gateway.config_checks import validation_problems as _problems
from gateway.errors import ConfigError, ConfigProblem, UnknownProvider
from gateway.model.secrets import Secrets
from gateway.providers.spec import load_spec
from gateway.routing.rules import RoutingSettings


def load(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    secrets_under: Collection[str] | None = None,
) -> Settings:
    """Read and validate a config file; raise `ConfigError` listing every problem.

    `secrets_under`: resolve only the `*_env` keys at or below these locations (`()`: none,
    `("providers",)`: the providers' own); the others are neither read nor reported missing,
    and `Settings.secrets` lacks them. None (the default): every one, as `serve` needs.
    """
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("", f"config file {path} does not exist")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"{path} is not valid TOML: {exc}")]) from None
    environ = environment() if environ is None else environ
    return parse(data, environ, secrets_under=secrets_under)


def parse(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    secrets_under: Collection[str] | None = None,
) -> Settings:
    """Validate an already-decoded config mapping against `environ` (see `load`)."""

    problems: list[ConfigProblem] = []
    raw = dict(data)
    providers: dict[str, ProviderSettings] = {}
    raw_providers = raw.pop("providers", {})
    if not isinstance(raw_providers, Mapping):
        problems.append(ConfigProblem("providers", "must be a table of provider blocks"))
        raw_providers = {}
    for name, block in raw_providers.items():
        try:
            spec = load_spec(name)
        except UnknownProvider:
            known = ", ".join(known_providers()) or "none"
            problems.append(
                ConfigProblem(f"providers.{name}", f"unknown provider (known: {known})")
            )
            continue
        try:
            providers[name] = spec.settings.model_validate(block)
        except ValidationError as exc:
            problems.extend(_problems(exc, f"providers.{name}"))

    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**raw, "providers": providers})
    except ValidationError as exc:
        problems.extend(_problems(exc, ""))
    # Cross references are checked even when other sections failed, so one run shows all.
    try:
        routing = RoutingSettings.model_validate(raw.get("routing", {}))
    except ValidationError:
        pass  # already reported above, with its location
    else:
        problems.extend(route_references(routing, providers, set(raw_providers)))

    secrets, missing = _resolve_secrets(data, environ, secrets_under)
    problems.extend(missing)
    if settings is not None:
        problems.extend(cross_references(settings))
        problems.extend(subscriber_secrets(settings, secrets))
        problems.extend(client_keys(settings, secrets))
        if not problems:
            settings._secrets = secrets
            return settings
    raise ConfigError(problems)


def known_providers() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(gateway.providers.__path__) if m.ispkg)


def _env_fields(value: object, loc: str = "") -> Iterator[tuple[str, str]]:
    """Every `(loc, variable name)` of a `*_env` key anywhere in the raw config data.

    Walks the data as read (not the validated model), so a missing variable is reported
    even when another part of the file failed validation.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{loc}.{key}" if loc else str(key)
            if str(key).endswith("_env") and isinstance(item, str):
                yield here, item
            else:
                yield from _env_fields(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _env_fields(item, f"{loc}.{i}")


def _resolve_secrets(
    data: Mapping[str, Any], environ: Mapping[str, str], under: Collection[str] | None
) -> tuple[Secrets, list[ConfigProblem]]:
    values: dict[str, SecretStr] = {}
    problems = []
    for loc, var in _env_fields(data):
        if under is not None and not any(loc == p or loc.startswith(f"{p}.") for p in under):
            continue
        found = environ.get(var)
        if not found:
            problems.append(
                ConfigProblem(
                    loc, f"environment variable {var} is not set or empty", var, missing=True
                )
            )
        else:
            values[var] = SecretStr(found)
    return Secrets(values), problems
