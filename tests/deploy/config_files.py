"""Deployment config files checked by the gateway's own loader (`gateway check-config`)."""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.config_load import load
from gateway.errors import ConfigError, ConfigProblem


def _env_keys(data: object) -> Iterator[tuple[str, str]]:
    """`(key, variable)` of every `*_env` key, anywhere in a decoded config file."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).endswith("_env") and isinstance(value, str):
                yield str(key), value
            else:
                yield from _env_keys(value)
    elif isinstance(data, list):
        for item in data:
            yield from _env_keys(item)


def env_names(data: object) -> Iterator[str]:
    """The variable named by every `*_env` key, anywhere in a decoded config file."""
    return (name for _key, name in _env_keys(data))


def dummy_environ(data: Mapping[str, Any]) -> dict[str, str]:
    """A value for every variable; a subscriber's `secret_env` gets a Standard Webhooks one."""
    return {
        name: (
            "whsec_" + base64.b64encode(name.encode().ljust(24, b"-")).decode()
            if key == "secret_env"
            else f"dummy-{name.lower()}"
        )
        for key, name in _env_keys(data)
    }


def validate(path: Path) -> tuple[Settings | None, list[ConfigProblem]]:
    """Load `path` as `gateway check-config` does, with a dummy value for each `*_env`:
    the settings, or None and every problem the loader names."""
    data = tomllib.loads(path.read_text())
    try:
        return load(path, environ=dummy_environ(data)), []
    except ConfigError as exc:
        return None, exc.problems


def toml_of(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
