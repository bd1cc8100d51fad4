"""`make run`: `gateway serve` with the in-process sandboxes, which it calls on its own URL.

What the gateway calls on its own URL while it starts (Logitrail's token warm-up, Flexport's
token probe) must not fail for want of a listening server: no failure is logged or counted
(a counted token failure fires the token alerts). A real misconfiguration still is, at once.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import CLIENT_ID, SandboxHandle, eventually
from tests.integration.metrics_scrape import Scrape, parse_exposition
from tests.makefile import DEMO_ENV
from tests.system.gateway_process import ROOT, GatewayProcess, request

pytestmark = pytest.mark.system

TOKEN_URL = 'token_url = "/_sandbox/logitrail/realms/logitrail/token"'


def demo_config(tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    """`config/gateway.toml` as `make run` serves it, on a database of its own."""
    text = (ROOT / "config/gateway.toml").read_text()
    edits = {'"sqlite:///var/gateway.db"': f'"sqlite:///{tmp_path}/gateway.db"', **(replace or {})}
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


async def metrics(gw: GatewayProcess) -> Scrape:
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as resp:
        assert resp.status == 200
        return parse_exposition(await resp.text())


def log_lines(gw: GatewayProcess) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gw.log.read_text().splitlines()]


async def test_a_sandbox_start_fails_no_call_to_its_own_url(tmp_path: Path) -> None:
    gw = GatewayProcess(demo_config(tmp_path), DEMO_ENV, tmp_path / "gateway.log")
    try:
        await gw.start()

        async def warmed_up() -> Scrape | None:
            m = await metrics(gw)
            token = m.value("gateway_token_refreshes_total", provider="logitrail", outcome="ok")
            probe = m.value("gateway_provider_calls_total", provider="flexport", outcome="ok")
            return m if token and probe else None

        m = await eventually(warmed_up, timeout=15)
        assert m.value("gateway_token_refreshes_total", outcome="failed") == 0
        calls = m.samples_of("gateway_provider_calls_total")
        assert [labels for labels, _v in calls if labels["outcome"] != "ok"] == []
        assert m.value("gateway_provider_retries_total") == 0
        status, body, _ = await request("GET", gw.url + "/readyz")
        assert (status, body["status"]) == (200, "ready")
        assert await gw.terminate() == 0
    finally:
        await gw.ensure_stopped()
    noisy = [e for e in log_lines(gw) if e["level"] not in ("debug", "info")]
    assert noisy == []


@pytest.mark.parametrize("misconfigured", ["invalid_scope", "invalid_client"])
async def test_a_misconfigured_token_is_still_reported_by_the_warm_up(
    tmp_path: Path, logitrail: SandboxHandle, misconfigured: str
) -> None:
    env = dict(DEMO_ENV)
    if misconfigured == "invalid_scope":  # the in-process sandbox refuses the scope
        replace = {'scopes = ["orders:read", "orders:manage"]': 'scopes = ["orders:everything"]'}
    else:  # a real Logitrail (a sandbox of its own) refuses the secret
        replace = {
            'base_url = "/_sandbox/logitrail"': f'base_url = "{logitrail.url}"',
            TOKEN_URL: f'token_url = "{logitrail.url}/realms/logitrail/token"',
        }
        env |= {"LOGITRAIL_CLIENT_ID": CLIENT_ID, "LOGITRAIL_CLIENT_SECRET": "not-the-secret"}
    gw = GatewayProcess(demo_config(tmp_path, replace), env, tmp_path / "gateway.log")
    try:
        await gw.start()

        async def not_ready() -> Any:
            status, body, _ = await request("GET", gw.url + "/readyz")
            return body if status == 503 else None

        body = await eventually(not_ready, timeout=15)
        assert body["checks"]["providers"]["logitrail"]["status"] == "misconfigured"
        m = await metrics(gw)
        assert m.value("gateway_token_refreshes_total", provider="logitrail", outcome="failed") == 1
        assert await gw.terminate() == 0
    finally:
        await gw.ensure_stopped()
    events = [e["event"] for e in log_lines(gw)]
    assert f"provider.token.{misconfigured}" in events
    assert "provider.token.prefetch_failed" in events


async def test_a_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(demo_config(tmp_path)),
            "--port",
            str(port),
            cwd=ROOT,
            env={**DEMO_ENV, "GATEWAY_LOG_FORMAT": "json"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await proc.communicate()
    assert proc.returncode == 1
    # that one line and nothing logged: no sandbox mounted, no store opened
    [line] = err.decode().splitlines()
    assert line.startswith(f"gateway: cannot listen on 127.0.0.1:{port}: ")
    assert not (tmp_path / "gateway.db").exists()
