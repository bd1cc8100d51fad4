"""`/metrics`: every family moves when the behaviour it counts happens (scraped, not peeked)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.observability.metrics import Metrics
from gateway.sandbox.logitrail import Fault as LogitrailFault
from tests.conftest import (
    WEBHOOK_SECRET,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    order,
    read_json,
)
from tests.integration.metrics_scrape import scrape
from tests.unit.fakes import SkipAheadClock

FAMILIES = {
    "gateway_http_requests": "counter",
    "gateway_http_request_duration_seconds": "histogram",
    "gateway_provider_calls": "counter",
    "gateway_provider_call_duration_seconds": "histogram",
    "gateway_provider_retries": "counter",
    "gateway_provider_rate_limited": "counter",
    "gateway_provider_gate_open_seconds": "gauge",
    "gateway_provider_circuit_state": "gauge",
    "gateway_token_refreshes": "counter",
    "gateway_idempotency": "counter",
    "gateway_routing_decisions": "counter",
    "gateway_queue_depth": "gauge",
    "gateway_queue_oldest_age_seconds": "gauge",
    "gateway_webhooks_in": "counter",
    "gateway_webhooks_out": "counter",
}


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any], key: str) -> Any:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


async def test_every_family_is_exported_with_its_type(gateway: TestClient[Any, Any]) -> None:
    s = await scrape(gateway)
    for name, kind in FAMILIES.items():
        assert s.families.get(name) == kind, name
    # no `_created` companions: they double the series and nothing reads them
    assert not [n for n in s.families if n.endswith("_created")]


async def test_http_requests_are_labelled_by_route_template_never_raw_path(
    gateway: TestClient[Any, Any],
) -> None:
    for oid in ("ord_a", "ord_b", "ord_c"):
        assert (await gateway.get(f"/v1/orders/{oid}", headers=auth())).status == 404
    assert (await gateway.get("/no/such/path/42")).status == 404

    s = await scrape(gateway)
    assert (
        s.value("gateway_http_requests_total", route="/v1/orders/{id}", method="GET", status="404")
        == 3
    )
    assert (
        s.value(
            "gateway_http_request_duration_seconds_count", route="/v1/orders/{id}", method="GET"
        )
        == 3
    )
    assert s.value("gateway_http_requests_total", route="unmatched", status="404") == 1
    routes = {lab["route"] for lab in s.labels("gateway_http_requests_total")}
    assert not any("ord_" in r or "42" in r for r in routes)


async def test_provider_calls_by_operation_and_outcome_with_latency_and_token_refresh(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    status, _ = await _submit(gateway, order("M-CALL-1"), "m-call-1")
    assert status == 201

    s = await scrape(gateway)
    for op in ("create", "confirm"):
        labels = {"provider": "logitrail", "operation": op}
        assert s.value("gateway_provider_calls_total", outcome="ok", **labels) == 1
        assert s.value("gateway_provider_call_duration_seconds_count", **labels) == 1
        assert s.value("gateway_provider_call_duration_seconds_sum", **labels) > 0
    assert s.value("gateway_token_refreshes_total", provider="logitrail", outcome="ok") == (
        logitrail.sandbox.token_requests
    )
    assert logitrail.sandbox.token_requests >= 1


async def test_retry_is_counted_and_the_failed_attempt_is_a_server_error(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(LogitrailFault(op="confirm", status=503))
    status, _ = await _submit(gateway, order("M-RETRY-1"), "m-retry-1")
    assert status == 201

    s = await scrape(gateway)
    confirm = {"provider": "logitrail", "operation": "confirm"}
    assert s.value("gateway_provider_retries_total", **confirm) == 1
    assert s.value("gateway_provider_calls_total", outcome="server_error", **confirm) == 1
    assert s.value("gateway_provider_calls_total", outcome="ok", **confirm) == 1


async def test_429_counts_and_the_gate_gauge_shows_the_wait(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    before = await scrape(gateway)
    assert before.value("gateway_provider_gate_open_seconds", provider="logitrail") == 0
    logitrail.sandbox.inject(LogitrailFault(op="create", status=429, retry_after="120"))

    status, body = await _submit(gateway, order("M-429"), "m-429")

    assert status == 202  # the gate stays shut past the request's budget: queued
    s = await scrape(gateway)
    assert s.value("gateway_provider_rate_limited_total", provider="logitrail") == 1
    assert (
        s.value(
            "gateway_provider_calls_total",
            provider="logitrail",
            operation="create",
            outcome="rate_limited",
        )
        == 1
    )
    assert 100 < s.value("gateway_provider_gate_open_seconds", provider="logitrail") <= 120
    assert s.value("gateway_queue_depth") == 1
    assert body["provider_order_id"] is None


async def test_circuit_state_gauge_follows_the_breaker(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(
        server__request_budget_s=0.5,
        providers__logitrail__circuit={"failure_threshold": 2, "cool_down_s": 60},
        providers__logitrail__retry={"max_attempts": 2, "base_delay_s": 0.01, "budget_s": 1},
    )
    assert (await scrape(gateway)).value(
        "gateway_provider_circuit_state", provider="logitrail"
    ) == 0
    logitrail.sandbox.inject(LogitrailFault(op="*", status=503, count=None))

    status, _ = await _submit(gateway, order("M-CB-1"), "m-cb-1")
    assert status == 202

    async def circuit() -> float:
        return (await scrape(gateway)).value("gateway_provider_circuit_state", provider="logitrail")

    for _ in range(100):
        if await circuit() == 2:
            break
        await asyncio.sleep(0.05)
    assert await circuit() == 2
    # an open circuit refuses calls without sending them, and says so
    await _submit(gateway, order("M-CB-2"), "m-cb-2")
    await clock.advance(0.2)  # the submitter's rounds meanwhile
    s = await scrape(gateway)
    assert (
        s.value("gateway_provider_calls_total", provider="logitrail", outcome="circuit_open") >= 1
    )
    assert (
        s.value("gateway_provider_calls_total", provider="logitrail", outcome="server_error") >= 2
    )


async def test_token_refresh_failures_are_counted(
    make_gateway: Any, logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(
        server__request_budget_s=0.5, providers__logitrail__prefetch_token=False
    )
    logitrail.sandbox.inject(LogitrailFault(op="token", status=500, count=None))

    status, _ = await _submit(gateway, order("M-TOK-1"), "m-tok-1")

    assert status == 202
    s = await scrape(gateway)
    assert s.value("gateway_token_refreshes_total", provider="logitrail", outcome="failed") >= 1
    assert s.value("gateway_token_refreshes_total", provider="logitrail", outcome="ok") == 0


async def test_idempotency_replays_conflicts_and_in_progress(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    body = order("M-IDEM-1")
    assert (await _submit(gateway, body, "m-idem-1"))[0] == 201
    assert (await _submit(gateway, body, "m-idem-1"))[0] == 201  # replay
    assert (await _submit(gateway, order("M-IDEM-2"), "m-idem-1"))[0] == 422  # other body
    assert (await _submit(gateway, body, "m-idem-new"))[0] == 409  # same external_id

    logitrail.sandbox.inject(LogitrailFault(op="create", hold=True))
    first = asyncio.create_task(_submit(gateway, order("M-IDEM-3"), "m-idem-3"))
    await logitrail.sandbox.wait_held("create")
    assert (await _submit(gateway, order("M-IDEM-3"), "m-idem-3"))[0] == 409
    logitrail.sandbox.release()
    assert (await first)[0] == 201

    s = await scrape(gateway)
    assert s.value("gateway_idempotency_total", outcome="replayed") == 1
    assert s.value("gateway_idempotency_total", outcome="conflict") == 1
    assert s.value("gateway_idempotency_total", outcome="order_exists") == 1
    assert s.value("gateway_idempotency_total", outcome="in_progress") == 1


async def test_routing_decisions_by_rule_and_candidate(gateway: TestClient[Any, Any]) -> None:
    assert (await _submit(gateway, order("M-RT-1"), "m-rt-1"))[0] == 201
    assert (await _submit(gateway, ca_order("M-RT-2"), "m-rt-2"))[0] == 201
    japan = order("M-RT-3")
    japan["address"] = {**japan["address"], "country_code": "JP"}
    assert (await _submit(gateway, japan, "m-rt-3"))[0] == 422

    s = await scrape(gateway)
    assert (
        s.value(
            "gateway_routing_decisions_total",
            rule="nordics",
            provider="logitrail",
            warehouse="FI-VANTAA",
        )
        == 1
    )
    assert (
        s.value("gateway_routing_decisions_total", rule="north-america", provider="logentic") == 1
    )
    assert s.value("gateway_routing_decisions_total", rule="unroutable") == 1


async def test_queue_depth_and_oldest_age_rise_while_a_provider_is_down_and_drain_after(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(server__request_budget_s=0.3)
    down = logitrail.sandbox.inject(LogitrailFault(op="create", status=503, count=None))
    assert (await _submit(gateway, order("M-Q-1"), "m-q-1"))[0] == 202
    assert (await _submit(gateway, order("M-Q-2"), "m-q-2"))[0] == 202
    await clock.advance(0.2)

    s = await scrape(gateway)
    assert s.value("gateway_queue_depth") == 2
    assert s.value("gateway_queue_oldest_age_seconds") >= 0.2

    logitrail.sandbox.clear_faults()
    assert down.remaining is None

    async def drained() -> bool:
        return (await scrape(gateway)).value("gateway_queue_depth") == 0

    for _ in range(200):
        if await drained():
            break
        await asyncio.sleep(0.05)
    s = await scrape(gateway)
    assert s.value("gateway_queue_depth") == 0
    assert s.value("gateway_queue_oldest_age_seconds") == 0


def _signed(raw: bytes) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()


async def test_inbound_webhooks_by_outcome(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    status, body = await _submit(gateway, ca_order("M-WH-1"), "m-wh-1")
    assert status == 201
    await logentic.sandbox.drain_webhooks()  # the sandbox's own deliveries are counted too
    before = await scrape(gateway)
    raw = orjson.dumps(
        {"id": "evt-m-1", "data": {"id": int(body["provider_order_id"]), "status": "PICKED"}}
    )
    headers = {"Logentic-Topic": "order-picked", "Signature": _signed(raw)}
    assert (await gateway.post("/v1/webhooks/logentic", data=raw, headers=headers)).status == 200
    assert (await gateway.post("/v1/webhooks/logentic", data=raw, headers=headers)).status == 200
    forged = {**headers, "Signature": "00" * 32}
    assert (await gateway.post("/v1/webhooks/logentic", data=raw, headers=forged)).status == 401
    junk = b"not json"
    junk_headers = {"Logentic-Topic": "order-picked", "Signature": _signed(junk)}
    assert (
        await gateway.post("/v1/webhooks/logentic", data=junk, headers=junk_headers)
    ).status == 400
    assert (await gateway.post("/v1/webhooks/no-such-3pl", data=b"{}")).status == 404

    s = await scrape(gateway)
    for outcome in ("accepted", "duplicate", "rejected", "malformed"):
        labels = {"provider": "logentic", "outcome": outcome}
        grown = s.value("gateway_webhooks_in_total", **labels) - before.value(
            "gateway_webhooks_in_total", **labels
        )
        assert grown == 1, outcome
    assert s.value("gateway_webhooks_in_total", provider="unknown", outcome="not_found") == 1
    providers = {lab["provider"] for lab in s.labels("gateway_webhooks_in_total")}
    assert "no-such-3pl" not in providers  # a caller's path never becomes a label


def test_outbound_webhook_counter_is_labelled_by_subscriber_and_outcome() -> None:
    # Fed by the event dispatcher; the family and its labels are the contract here.
    metrics = Metrics()
    metrics.webhook_out("oms", "delivered")
    metrics.webhook_out("oms", "failed")
    metrics.webhook_out("oms", "delivered")
    text = metrics.render().decode()
    assert 'gateway_webhooks_out_total{outcome="delivered",subscriber="oms"} 2.0' in text
    assert 'gateway_webhooks_out_total{outcome="failed",subscriber="oms"} 1.0' in text


async def test_two_gateways_in_one_process_count_separately(make_gateway: Any) -> None:
    one = await make_gateway()
    two = await make_gateway()
    await one.get("/healthz")
    await one.get("/healthz")
    await two.get("/healthz")
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert (await scrape(one)).value("gateway_http_requests_total", **healthz) == 2
    assert (await scrape(two)).value("gateway_http_requests_total", **healthz) == 1


async def test_metrics_scrape_still_answers_with_a_dead_store(
    gateway: TestClient[Any, Any],
) -> None:
    await gateway.server.app[STORE].close()
    s = await scrape(gateway)  # 200: Prometheus keeps the other series; /readyz names the store
    assert s.value("gateway_provider_circuit_state", provider="logitrail") == 0


async def test_the_sqlite_store_counts_what_it_ran_per_kind(gateway: TestClient[Any, Any]) -> None:
    before = await scrape(gateway)
    status, _ = await _submit(gateway, order("STMT-1"), "k-stmt-1")
    assert status == 201
    after = await scrape(gateway)
    moved = {
        kind: after.value("gateway_store_statements_total", kind=kind)
        - before.value("gateway_store_statements_total", kind=kind)
        for kind in ("statements", "transactions", "commits")
    }
    # A submit stores the order with its key's claim, its done step, and its answer.
    assert moved["transactions"] >= 3
    assert moved["statements"] > moved["transactions"]
    assert moved["commits"] >= 1
    assert after.families["gateway_store_statements"] == "counter"
