"""`gateway sandbox --webhooks-to URL`: the simulators alone send their webhooks to the gateway
at URL, as they send them to their own gateway in `make run` (Logitrail's with its token)."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import eventually
from tests.makefile import DEMO_ENV
from tests.system.child import Child
from tests.system.gateway_process import ROOT, free_port
from tests.system.test_sandbox_start import demo_config

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

MERCHANT = {"X-Logitrail-Merchant-ID": "M-DEMO"}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[str, Any, dict[str, str]]]]]:
    """A stand-in gateway: records each `POST /v1/webhooks/{provider}` (provider, body, query)."""
    got: list[tuple[str, Any, dict[str, str]]] = []

    async def take(request: web.Request) -> web.Response:
        got.append(
            (
                request.match_info["provider"],
                orjson.loads(await request.read()),
                dict(request.query),
            )
        )
        return web.json_response({"received": 1})

    app = web.Application()
    app.router.add_post("/v1/webhooks/{provider}", take)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", got
    finally:
        await server.close()


async def test_sandbox_sends_webhooks_to_the_gateway_it_is_given(
    tmp_path: Path, receiver: tuple[str, list[tuple[str, Any, dict[str, str]]]]
) -> None:
    gateway_url, got = receiver
    port = free_port()
    args = [sys.executable, "-m", "gateway", "sandbox", "--config", str(demo_config(tmp_path))]
    args += ["--port", str(port), "--webhooks-to", gateway_url]
    child = Child(args, DEMO_ENV, tmp_path / "sandbox.log")
    url = f"http://127.0.0.1:{port}/_sandbox/logitrail"
    try:
        await child.start(url + "/_control/faults")
        basic = base64.b64encode(
            f"{DEMO_ENV['LOGITRAIL_CLIENT_ID']}:{DEMO_ENV['LOGITRAIL_CLIENT_SECRET']}".encode()
        ).decode()
        body = orjson.loads((ROOT / "tests/contract/logitrail/minimal.logitrail.json").read_bytes())
        async with aiohttp.ClientSession() as session:
            async with session.post(
                url + "/realms/logitrail/token",
                data={"grant_type": "client_credentials", "scope": "orders:manage"},
                headers={"Authorization": f"Basic {basic}"},
            ) as resp:
                auth = {
                    "Authorization": f"Bearer {(await resp.json())['access_token']}",
                    **MERCHANT,
                }
            async with session.post(url + "/orders/_create", json=body, headers=auth) as resp:
                assert resp.status == 201, await resp.text()
                order_id = (await resp.json())["order_id"]
            async with session.post(url + f"/orders/{order_id}/_confirm", headers=auth) as resp:
                assert resp.status == 200, await resp.text()

        async def confirmed() -> Any:
            return [g for g in got if g[0] == "logitrail"]

        ((_provider, event, query),) = await eventually(confirmed, timeout=10)
        assert event["payload"]["order"]["id"] == order_id
        assert query == {"token": DEMO_ENV["LOGITRAIL_WEBHOOK_TOKEN"]}
    finally:
        await child.stop()
    assert f"Webhooks: to {gateway_url}/v1/webhooks/<provider>" in child.output


@pytest.mark.parametrize("url", ["ftp://x", "/v1", "127.0.0.1:8080"])
def test_sandbox_refuses_a_webhooks_to_that_is_not_an_http_url(url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "sandbox", "--webhooks-to", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--webhooks-to must be an http(s) URL" in result.stderr
