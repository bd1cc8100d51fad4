"""Deployment config files checked by the gateway's own loader (`gateway check-config`)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, Settings, load
from gateway.config_checks import ConfigProblem


def env_names(data: object) -> Iterator[str]:
    """The variable named by every `*_env` key, anywhere in a decoded config file."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).endswith("_env") and isinstance(value, str):
                yield value
            else:
                yield from env_names(value)
    elif isinstance(data, list):
        for item in data:
            yield from env_names(item)


def dummy_environ(data: Mapping[str, Any]) -> dict[str, str]:
    return {name: f"dummy-{name.lower()}" for name in env_names(data)}


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
