"""Hostile and careless input: a 4xx problem naming the parameter or field, never a 500.

Query parameters, path values, Authorization bytes and every text field a provider receives;
the metadata limits. Every test runs on SQLite and on PostgreSQL, whose refusals (NUL,
64-bit overflow) used to surface as 500s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import auth, read_json

PROBLEM = "application/problem+json"
Gateway = TestClient[Any, Any]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def _locs(problem: dict[str, Any]) -> set[str]:
    return {e["loc"] for e in problem.get("errors", [])}


async def _problem(resp: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await read_json(resp)
    assert resp.status == status, body
    assert resp.content_type == PROBLEM
    return body


async def _submit(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=body["external_id"]))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    return created


# Authorization ----------------------------------------------------------------------------


async def _raw_get(gateway: Gateway, path: str, header: bytes) -> bytes:
    """A request whose Authorization bytes no HTTP client library would send."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    writer.write(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        b"Authorization: " + header + b"\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("key", [b"Bearer \xff\xfe\xfd", b"Bearer key-\xc3", b"\xff Bearer x"])
async def test_an_authorization_that_is_not_utf8_is_401_like_a_wrong_key(
    gateway: Gateway, key: bytes
) -> None:
    wrong = await _raw_get(gateway, "/v1/orders", b"Bearer wrong-key")
    answer = await _raw_get(gateway, "/v1/orders", key)

    assert answer.startswith(b"HTTP/1.1 401 ")
    body = orjson.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == "unauthorized"
    if key.startswith(b"Bearer"):  # the same answer as a key that is merely wrong
        assert body["detail"] == orjson.loads(wrong.partition(b"\r\n\r\n")[2])["detail"]
