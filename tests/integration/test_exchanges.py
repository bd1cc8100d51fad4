"""Provider exchanges (the audit trail): every HTTP attempt made for an order or return is
kept, scrubbed of credentials, readable by its tenant only (both stores)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.config import AuditSettings
from gateway.config_load import parse
from gateway.errors import ConfigError
from gateway.observability.audit import Exchange, Recorder, Redactor, subject
from gateway.sandbox.logitrail import Fault
from gateway.store import open_store
from gateway.workers.exchanges import purge
from tests.conftest import ENV, SandboxHandle, auth, eventually, order, read_json, settings_dict
from tests.integration.shipping import ship_at_logitrail


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    return store_url


async def submitted(gateway: TestClient[Any, Any], external_id: str) -> dict[str, Any]:
    resp = await gateway.post(
        "/v1/orders", json=order(external_id), headers=auth(key=f"k-{external_id}")
    )
    body = await read_json(resp)
    assert resp.status == 201, body
    return dict(body)


async def exchanges(
    gateway: TestClient[Any, Any], path: str, *, at_least: int = 1, client: str = "storefront-fi"
) -> list[dict[str, Any]]:
    async def page() -> list[dict[str, Any]] | None:
        resp = await gateway.get(path, headers=auth(client))
        body = await read_json(resp)
        assert resp.status == 200, body
        items: list[dict[str, Any]] = body["items"]
        return items if len(items) >= at_least else None

    items: list[dict[str, Any]] = await eventually(page)
    return items


async def test_an_orders_create_and_confirm_are_recorded(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await submitted(gateway, "EX-1")

    items = await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges", at_least=2)

    by_op = {e["operation"]: e for e in items}
    assert {"create", "confirm"} <= set(by_op)
    create = by_op["create"]
    assert create["method"] == "POST"
    assert create["path"] == "/orders/_create"
    assert create["response_status"] in (200, 201)
    assert create["outcome"] == "ok"
    assert create["attempt"] == 1
    assert create["latency_ms"] >= 0
    assert "EX-1" in create["request_body"]
    assert o["provider_order_id"] in create["response_body"]
    assert create["request_truncated"] is False
    assert by_op["confirm"]["path"] == f"/orders/{o['provider_order_id']}/_confirm"


async def test_a_5xx_then_retry_shows_two_attempts(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(Fault(op="confirm", status=503, count=1))
    o = await submitted(gateway, "EX-2")

    items = await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges", at_least=3)

    confirms = sorted((e for e in items if e["operation"] == "confirm"), key=lambda e: e["id"])
    assert [(e["attempt"], e["response_status"], e["outcome"]) for e in confirms] == [
        (1, 503, "http_error"),
        (2, 200, "ok"),
    ]


async def test_a_timeout_has_no_status(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(providers__logitrail__timeout_s=0.3)
    logitrail.sandbox.inject(Fault(op="confirm", delay_s=1.0, count=1))
    o = await submitted(gateway, "EX-3")

    items = await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges", at_least=3)

    first = min((e for e in items if e["operation"] == "confirm"), key=lambda e: e["id"])
    assert (first["response_status"], first["outcome"], first["response_body"]) == (
        None,
        "timeout",
        None,
    )


async def test_bodies_are_cut_at_the_limit(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(audit__body_limit_bytes=40)
    o = await submitted(gateway, "EX-4")

    items = await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges", at_least=2)

    create = next(e for e in items if e["operation"] == "create")
    assert create["request_truncated"] is True
    assert len(create["request_body"].encode()) <= 40


async def test_another_tenant_gets_404_and_pages_follow_the_cursor(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await submitted(gateway, "EX-5")
    all_items = await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges", at_least=2)

    resp = await gateway.get(f"/v1/orders/{o['id']}/exchanges", headers=auth("storefront-se"))
    assert resp.status == 404
    other = await gateway.get(f"/v1/orders/{o['id']}", headers=auth("storefront-se"))
    refused, order_refused = await read_json(resp), await read_json(other)
    assert refused.pop("instance") != order_refused.pop("instance")
    assert refused == order_refused  # exactly as the order's own 404

    seen: list[int] = []
    cursor: str | None = None
    while True:
        q = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = await read_json(
            await gateway.get(f"/v1/orders/{o['id']}/exchanges{q}", headers=auth())
        )
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in all_items]
    assert seen == sorted(seen, reverse=True)


async def test_exchanges_buffered_at_shutdown_are_written(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, gateway_store_url: str
) -> None:
    gateway = await make_gateway()
    o = await submitted(gateway, "EX-6")
    await gateway.close()  # graceful: the shutdown writes what is still buffered

    store = await open_store(gateway_store_url)
    try:
        rows = await store.list_exchanges("storefront-fi", "order", o["id"], before=None, limit=50)
    finally:
        await store.close()
    assert {"create", "confirm"} <= {r["operation"] for r in rows}


async def test_old_exchanges_are_purged(store_url: str) -> None:
    recorder = Recorder()
    with subject("order", "c-1", "ord_X"):
        for at in (1_000.0, 5_000.0):
            recorder.record(
                provider="p",
                operation="get",
                method="GET",
                url="http://p/orders/1?token=abc&page=2",
                request=None,
                status=200,
                response=b"{}",
                latency_s=0.01,
                attempt=1,
                outcome="ok",
                correlation_id=None,
                at=at,
            )

    class Clock:
        def time(self) -> float:
            return 5_000.0 + 100

    store = await open_store(store_url)
    try:
        await store.add_exchanges(recorder.drain())
        assert await purge(store, AuditSettings(retention_s=1000), Clock()) == 1  # type: ignore[arg-type]
        rows = await store.list_exchanges("c-1", "order", "ord_X", before=None, limit=10)
    finally:
        await store.close()
    assert [r["at"] for r in rows] == [5_000.0]
    assert rows[0]["path"] == "/orders/1?token=%5Bredacted%5D&page=2"


def test_redaction_removes_known_secrets_and_token_keys() -> None:
    r = Redactor(["s3cret-value"])
    body = orjson.dumps({"access_token": "t", "note": "has s3cret-value in it", "n": [1]})
    assert orjson.loads(r.body(body) or "") == {
        "access_token": "[redacted]",
        "note": "has [redacted] in it",
        "n": [1],
    }


async def test_a_returns_exchanges_are_its_own(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await ship_at_logitrail(gateway, logitrail, await submitted(gateway, "EX-7"))
    resp = await gateway.post(
        "/v1/returns", json={"order_id": o["id"], "external_id": "RMA-EX"}, headers=auth(key="r7")
    )
    ret = await read_json(resp)
    assert resp.status in (201, 202), ret

    items = await exchanges(gateway, f"/v1/returns/{ret['id']}/exchanges")

    assert "return_create" in {e["operation"] for e in items}
    order_ops = {
        e["operation"] for e in await exchanges(gateway, f"/v1/orders/{o['id']}/exchanges")
    }
    assert "return_create" not in order_ops
    other = await gateway.get(f"/v1/returns/{ret['id']}/exchanges", headers=auth("storefront-se"))
    assert other.status == 404
    metrics = await (await gateway.get("/metrics")).text()
    assert 'gateway_exchanges_total{outcome="recorded"}' in metrics


def _one(recorder: Recorder, at: float) -> None:
    recorder.record(
        provider="p",
        operation="get",
        method="GET",
        url="http://p/x",
        request=None,
        status=200,
        response=None,
        latency_s=0.0,
        attempt=1,
        outcome="ok",
        correlation_id=None,
        at=at,
    )


def test_the_buffer_is_bounded_and_a_refused_batch_goes_back_first() -> None:
    recorder = Recorder(max_buffered=3)
    _one(recorder, 0.0)  # no subject: not an order's call, not recorded
    assert len(recorder) == 0
    with subject("order", "c", "ord_1"):
        for at in (1.0, 2.0, 3.0, 4.0):
            _one(recorder, at)
        assert [e.at for e in recorder.drain()] == [2.0, 3.0, 4.0]
        assert recorder.dropped == 1
        _one(recorder, 5.0)
        _one(recorder, 6.0)
        recorder.restore(_batch(1.5, 2.5))
    assert [e.at for e in recorder.drain()] == [2.5, 5.0, 6.0]
    assert recorder.dropped == 2


def _batch(*ats: float) -> list[Exchange]:
    r = Recorder()
    with subject("order", "c", "ord_1"):
        for at in ats:
            _one(r, at)
    return r.drain()


def test_the_audit_section_is_checked(tmp_path: Path) -> None:
    data = settings_dict(tmp_path, "http://lt", audit={"body_limit_bytes": -1, "keep": 1})
    with pytest.raises(ConfigError) as info:
        parse(data, ENV)
    assert {p.loc for p in info.value.problems} == {"audit.body_limit_bytes", "audit.keep"}
    settings = parse(settings_dict(tmp_path, "http://lt"), ENV).audit
    assert (settings.enabled, settings.body_limit_bytes, settings.retention_s) == (
        True,
        16384,
        30 * 86400,
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"\\u0074oken": "t", "n": 1}',  # an escaped key spells a secret one
        '{"api_\u212aey": "t", "n": 1}'.encode(),  # KELVIN SIGN: matches `key` ignoring case
        b'{"data": {"Client_Secret": "t"}, "n": 1}',
    ],
)
def test_a_secret_key_is_hidden_however_the_body_spells_it(raw: bytes) -> None:
    hidden = orjson.loads(Redactor().body(raw) or "")
    assert "t" not in _leaves(hidden)
    assert hidden["n"] == 1


def test_a_body_without_secret_keys_is_stored_as_parsed_and_paths_keep_their_query() -> None:
    r = Redactor(["s3cret-value"])
    raw = b'{ "id": "LT-1",  "status": "confirmed", "note": "s3cret-value", "lines": [1, 2] }'
    assert r.body(raw) == '{"id":"LT-1","status":"confirmed","note":"[redacted]","lines":[1,2]}'
    assert r.path("http://lt/orders/LT-1/confirm") == "/orders/LT-1/confirm"
    assert r.path("http://lt/p/s3cret-value") == "/p/[redacted]"
    assert r.path("http://lt/orders?page=2&sig=abc") == "/orders?page=2&sig=%5Bredacted%5D"


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
