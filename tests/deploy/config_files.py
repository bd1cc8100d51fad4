"""Deployment config files checked by the gateway's own loader (`gateway check-config`).

Deployments carry keys that arrive with branches not yet merged (issue 8 lists them). The
loader rejects an unknown key by name, so those — and only those — are tolerated while the
config model does not know them; everything else in the file is validated for real. Once the
model gains a key, it is validated like any other and the tolerance no longer applies.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, ConfigProblem, Settings, load

PENDING_KEYS = {
    # [server] replicas: how many gateways share the provider accounts (postgres branch).
    "server.replicas": "unknown key",
}


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
    """Load `path` as `gateway check-config` does, with a dummy value for each `*_env`.

    Returns the settings (None while a pending key is present) and the problems that are
    not pending keys the model does not know yet.
    """
    data = tomllib.loads(path.read_text())
    try:
        return load(path, environ=dummy_environ(data)), []
    except ConfigError as exc:
        real = [p for p in exc.problems if PENDING_KEYS.get(p.loc) != p.msg]
        return None, real


def toml_of(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
