"""`make run` and `make sandbox` for real: what a newcomer's terminal (or a CI log) shows.

Both print no secret of `DEMO_ENV` — only the demo client key, which the README's curl lines
use — and `make sandbox` serves the three provider simulators alone, each accepting the demo
credentials the Makefile sets.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.makefile import DEMO_CLIENT_KEY, DEMO_ENV
from tests.system.child import Child
from tests.system.gateway_process import free_port
from tests.system.test_sandbox_start import demo_config

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

SECRETS = {name: value for name, value in DEMO_ENV.items() if value != DEMO_CLIENT_KEY}


def assert_no_secret(output: str) -> None:
    printed = sorted(name for name, value in SECRETS.items() if value in output)
    assert printed == [], f"make printed the values of {printed}:\n{output}"


@pytest.fixture
async def make_run(tmp_path: Path) -> AsyncIterator[tuple[Child, str]]:
    port = free_port()
    config = demo_config(tmp_path)
    child = Child(["make", "run", f"PORT={port}", f"CONFIG={config}"], {}, tmp_path / "make.log")
    url = f"http://127.0.0.1:{port}"
    try:
        await child.start(url + "/healthz")
        yield child, url
    finally:
        await child.stop()


async def test_make_run_prints_no_secret_but_the_demo_client_key(
    make_run: tuple[Child, str],
) -> None:
    child, url = make_run
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {DEMO_CLIENT_KEY}"}
        async with session.get(url + "/v1/providers", headers=auth) as resp:
            assert resp.status == 200  # it runs, with the demo secrets set
    await child.stop()
    output = child.output
    assert f"Gateway on {url}" in output
    assert f"Bearer {DEMO_CLIENT_KEY}" in output  # the curl lines the README repeats
    assert_no_secret(output)


async def test_make_sandbox_serves_each_simulator_with_the_demo_credentials(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = demo_config(tmp_path)
    child = Child(
        ["make", "sandbox", f"SANDBOX_PORT={port}", f"CONFIG={config}"], {}, tmp_path / "make.log"
    )
    url = f"http://127.0.0.1:{port}/_sandbox"
    try:
        await child.start(url + "/logitrail/_control/faults")
        async with aiohttp.ClientSession() as session:
            basic = base64.b64encode(
                f"{DEMO_ENV['LOGITRAIL_CLIENT_ID']}:{DEMO_ENV['LOGITRAIL_CLIENT_SECRET']}".encode()
            ).decode()
            async with session.post(
                url + "/logitrail/realms/logitrail/token",
                data={"grant_type": "client_credentials", "scope": "orders:read"},
                headers={"Authorization": f"Basic {basic}"},
            ) as resp:
                assert resp.status == 200, await resp.text()
                token = (await resp.json())["access_token"]
            async with session.get(
                url + "/logitrail/orders",
                headers={"Authorization": f"Bearer {token}", "X-Logitrail-Merchant-ID": "M-DEMO"},
            ) as resp:
                assert resp.status == 200, await resp.text()
            logentic = {"Authorization": f"Bearer {DEMO_ENV['LOGENTIC_API_TOKEN']}"}
            async with session.get(url + "/logentic/v1/items", headers=logentic) as resp:
                assert resp.status == 200, await resp.text()
            flexport = {"Authorization": f"Bearer {DEMO_ENV['FLEXPORT_TOKEN']}"}
            active = url + "/flexport/logistics/api/2026-02/warehouses/active"
            async with session.get(active, headers=flexport) as resp:
                assert resp.status == 200, await resp.text()
            # the credentials matter: another token is refused
            async with session.get(active, headers={"Authorization": "Bearer nope"}) as resp:
                assert resp.status == 401
    finally:
        await child.stop()
    output = child.output
    assert f"Provider sandboxes on http://127.0.0.1:{port}" in output
    for line in (
        f"logitrail  http://127.0.0.1:{port}/_sandbox/logitrail  (credentials from"
        " LOGITRAIL_CLIENT_ID, LOGITRAIL_CLIENT_SECRET, LOGITRAIL_WEBHOOK_TOKEN)",
        f"logentic   http://127.0.0.1:{port}/_sandbox/logentic/v1  (credentials from"
        " LOGENTIC_API_TOKEN, LOGENTIC_WEBHOOK_SECRET)",
        f"flexport   http://127.0.0.1:{port}/_sandbox/flexport  (credentials from"
        " FLEXPORT_TOKEN, FLEXPORT_WEBHOOK_SECRET)",
        "Webhooks: none sent",
    ):
        assert line in output, output
    assert_no_secret(output)
