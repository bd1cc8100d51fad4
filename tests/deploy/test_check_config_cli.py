"""`gateway check-config`, as a deploy pipeline runs it, on every config file deploy/ ships."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from tests.deploy.catalogue import DEPLOY, ROOT
from tests.deploy.config_files import dummy_environ, toml_of
from tests.services import free_port


def _configmap_toml(tmp_path: Path) -> Path:
    (configmap,) = yaml.safe_load_all((DEPLOY / "k8s" / "configmap.yaml").read_text())
    path = tmp_path / "gateway.toml"
    path.write_text(configmap["data"]["gateway.toml"])
    return path


SOURCES = {
    "compose": lambda _tmp: DEPLOY / "compose" / "gateway.toml",
    "compose-simulator": lambda _tmp: DEPLOY / "compose" / "simulator.toml",
    "k8s-configmap": _configmap_toml,
    "image-default": lambda _tmp: ROOT / "config" / "gateway.toml",
}


def _check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_check_config_accepts_the_file_with_its_variables_set(source: str, tmp_path: Path) -> None:
    path = SOURCES[source](tmp_path)
    result = _check_config(path, dummy_environ(toml_of(path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["file: ok", "environment: ok"]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_check_config_names_every_missing_variable(source: str, tmp_path: Path) -> None:
    """The rollout gate works: without the secrets, check-config fails (2: the file is valid,
    the environment is not) and names each variable with the key that names it."""
    path = SOURCES[source](tmp_path)
    result = _check_config(path, {})
    assert result.returncode == 2
    assert result.stdout.splitlines()[0] == "file: ok"
    for name in dummy_environ(toml_of(path)):
        assert re.search(rf"^environment: missing {name} \([a-z0-9_.]+_env\)$", result.stdout, re.M)


def test_serve_with_an_unwritable_sqlite_path_says_so_and_exits_1(tmp_path: Path) -> None:
    """A read-only root filesystem without a database volume: one clear line, no traceback."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    source = (ROOT / "config" / "gateway.toml").read_text()
    config = tmp_path / "gateway.toml"
    config.write_text(
        "\n".join(
            f'url = "sqlite:///{blocker}/gateway.db"' if line.startswith('url = "sqlite:') else line
            for line in source.splitlines()
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "0"],
        env={"PATH": os.environ.get("PATH", ""), **dummy_environ(toml_of(config))},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"gateway: cannot open the store: cannot open SQLite database {blocker}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_serve_waits_for_postgresql_then_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    """A database that never comes up: retries logged, then one clear line, no traceback."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[store]\nurl = "postgresql://gw:s3cr3t-pw@127.0.0.1:{port}/gw"\nconnect_wait_s = 1\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "0"],
        env={"PATH": os.environ.get("PATH", ""), "GATEWAY_LOG_FORMAT": "json"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    *log_lines, last = result.stderr.splitlines()
    assert last.startswith(
        f"gateway: cannot open the store: PostgreSQL at 127.0.0.1:{port}/gw still unreachable"
        " after "
    ), result.stderr
    events = [orjson.loads(line)["event"] for line in log_lines]
    assert "store.connect.retry" in events
    assert "store.connect.gave_up" in events
    assert "Traceback" not in result.stderr
    assert "s3cr3t" not in result.stderr
