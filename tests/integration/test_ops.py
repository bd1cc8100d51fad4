"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from tests.conftest import read_json


async def test_healthz_needs_no_auth(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status == 200
    assert (await read_json(resp)) == {"status": "ok"}


async def test_readyz_is_ready_with_store_and_providers(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/readyz")
    body = await read_json(resp)
    assert resp.status == 200
    assert body["status"] == "ready"
    assert body["checks"]["providers"]["logitrail"]["circuit"] == "closed"


async def test_readyz_fails_when_the_store_is_gone(gateway: TestClient[Any, Any]) -> None:
    await gateway.server.app[STORE].close()
    resp = await gateway.get("/readyz")
    body = await read_json(resp)
    assert resp.status == 503
    assert body["checks"]["store"]["status"] == "error"
