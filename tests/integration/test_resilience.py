"""Exactly-once through a hostile upstream (issue: rate limits, retries, breaker, durable queue).

Every test runs against each provider's sandbox through the real gateway app.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from gateway.api.keys import PROVIDERS
from gateway.sandbox.flexport import Fault as FlexportFault
from gateway.sandbox.logentic import Fault as LogenticFault
from gateway.sandbox.logitrail import Fault as LogitrailFault
from tests.conftest import (
    FLEXPORT_RULES,
    FlexportHandle,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    gb_order,
    order,
    read_json,
    ref,
)
from tests.integration.resilience import HOSTILE, Target, eventually, submit, wait_all
from tests.unit.fakes import SkipAheadClock


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


@pytest.fixture(params=["logitrail", "logentic", "flexport"])
async def target(
    request: pytest.FixtureRequest,
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    flexport: FlexportHandle,
) -> AsyncIterator[Target]:
    async def start(**overrides: Any) -> Any:
        return await make_gateway(**{**HOSTILE, **overrides})

    if request.param == "logitrail":
        lt = logitrail.sandbox
        yield Target(
            name="logitrail",
            sandbox=lt,
            fault=LogitrailFault,
            create_op="create",
            confirm_op="confirm",
            order=order,
            held=lambda ext: len(lt.orders_by_merchant_order(ref(ext))),
            start=start,
        )
    elif request.param == "flexport":
        fx = flexport.sandbox

        async def start_flexport(**overrides: Any) -> Any:
            return await make_gateway(**{**HOSTILE, "routing__rules": FLEXPORT_RULES, **overrides})

        yield Target(
            name="flexport",
            sandbox=fx,
            fault=FlexportFault,
            create_op="create",
            confirm_op=None,
            order=gb_order,
            held=lambda ext: len(fx.orders_by_external_id(ref(ext))),
            start=start_flexport,
            replays=lambda: len(fx.state.replayed),
        )
    else:
        le = logentic.sandbox
        yield Target(
            name="logentic",
            sandbox=le,
            fault=LogenticFault,
            create_op="create",
            confirm_op=None,
            order=ca_order,
            held=lambda ext: len(le.orders_by_external_name(ref(ext))),
            start=start,
        )


def _provider(target: Target, **kw: Any) -> dict[str, Any]:
    """Overrides for the target provider's block: `providers__<name>__<key>`."""
    return {f"providers__{target.name}__{k}": v for k, v in kw.items()}


async def test_retry_after_closes_the_provider_for_every_task(
    target: Target, clock: SkipAheadClock
) -> None:
    gateway = await target.start(**_provider(target, timeout_s=5))
    await _assert_gate_honoured(target, gateway, clock, retry_after="2", seconds=2.0)


async def test_retry_after_as_http_date_works_the_same(
    target: Target, clock: SkipAheadClock
) -> None:
    gateway = await target.start(**_provider(target, timeout_s=5))
    until = math.ceil(clock.time()) + 3  # HTTP-dates have 1 s resolution: wait is 2–3 s
    date = format_datetime(datetime.fromtimestamp(until, UTC), usegmt=True)
    await _assert_gate_honoured(target, gateway, clock, retry_after=date, seconds=2.0)


async def _assert_gate_honoured(
    target: Target, gateway: Any, clock: SkipAheadClock, *, retry_after: str, seconds: float
) -> None:
    """One create meets a 429; once the gateway has read it, 11 more orders arrive at once.
    Neither the retry of the first nor any of the others may reach the provider before the
    window ends. (A call already on the wire when the 429 comes back cannot be recalled, so
    the others arrive only after the gateway has seen it.)"""
    target.sandbox.inject(target.fault(op=target.create_op, status=429, retry_after=retry_after))
    first = asyncio.create_task(submit(gateway, target.order("RA-0")))
    provider = gateway.app[PROVIDERS][target.name]
    await eventually(lambda: provider.state().gate_open_at is not None)
    # The gate is shut on the clock: skip the window rather than sit through it.
    rest = await clock.skipping(
        asyncio.gather(*(submit(gateway, target.order(f"RA-{i}")) for i in range(1, 12)))
    )
    ids = [body["id"] for _status, body in [await clock.skipping(first), *rest]]
    await wait_all(gateway, ids)

    [limited] = [r for r in target.sandbox.requests if r.status == 429]
    after = target.calls(since=limited.at)
    quiet = [r for r in after if r is not limited and r.at < limited.at + seconds - 0.05]
    assert quiet == [], f"{len(quiet)} calls reached the provider inside the Retry-After window"
    for i in range(12):
        assert target.held(f"RA-{i}") == 1


async def test_mix_of_5xx_and_timeouts_over_200_orders_lands_each_exactly_once(
    target: Target,
) -> None:
    gateway = await target.start(
        **_provider(
            target,
            timeout_s=0.4,
            circuit={"failure_threshold": 8, "cool_down_s": 0.3},
            retry={"max_attempts": 3, "base_delay_s": 0.02, "max_delay_s": 0.2, "budget_s": 3},
        )
    )
    target.sandbox.inject(
        target.fault(
            op="*", count=None, probability=0.3, mix=[500, 502, 503, "timeout"], delay_s=0.8
        )
    )
    started = time.monotonic()
    results = await asyncio.gather(*(submit(gateway, target.order(f"MIX-{i}")) for i in range(200)))
    assert {status for status, _ in results} <= {201, 202}
    await wait_all(gateway, [body["id"] for _s, body in results], timeout=120)
    elapsed = time.monotonic() - started

    faulted = sum(1 for r in target.sandbox.requests if r.status >= 500)
    assert faulted > 30, "the fault mix did not bite"
    duplicates = [i for i in range(200) if target.held(f"MIX-{i}") != 1]
    assert duplicates == []
    print(
        f"\n[{target.name}] 200 orders, {len(target.calls())} provider calls, "
        f"{faulted} faulted, 0 duplicates, {elapsed:.1f}s"
    )


async def test_timeout_after_the_provider_created_the_order_is_reconciled(
    target: Target,
) -> None:
    gateway = await target.start(**_provider(target, timeout_s=0.3))
    target.sandbox.inject(target.fault(op=target.create_op, after=True, delay_s=1.0))

    status, body = await submit(gateway, target.order("LATE-1"))
    await wait_all(gateway, [body["id"]])

    assert status in (201, 202)
    assert target.held("LATE-1") == 1
    # Recorded on answer. Flexport's create is resent with its idempotency key and replayed.
    await eventually(lambda: target.sandbox.count(target.create_op) == 1 + target.replays())
    assert target.sandbox.count(target.create_op) == 1 + target.replays()
    view = await read_json(await gateway.get(f"/v1/orders/{body['id']}", headers=auth()))
    assert view["submission"]["attempts"] >= 1


async def test_provider_down_queues_202_then_submits_once_it_returns(
    target: Target, clock: SkipAheadClock
) -> None:
    gateway = await target.start(
        **_provider(
            target,
            # Long enough that no half-open probe falls between the two looks below, which
            # happen at an unknown point of the cool-down (the first answer takes the budget).
            circuit={"failure_threshold": 3, "cool_down_s": 3.0},
            retry={"max_attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.05, "budget_s": 2},
        )
    )
    down = target.sandbox.inject(target.fault(op="*", status=503, count=None))

    first_status, first = await submit(gateway, target.order("DOWN-1"))
    assert first_status == 202
    assert first["status"] == "accepted"
    assert first["provider_order_id"] is None

    circuit = await _wait_circuit(gateway, target.name, "open")
    assert circuit == "open"
    ready = await gateway.get("/readyz")
    assert ready.status == 200  # an outage queues orders; it does not make the gateway unready
    calls_while_open = len(target.calls())
    second_status, second = await submit(gateway, target.order("DOWN-2"))
    assert second_status == 202
    await clock.advance(0.2)  # the submitter's rounds meanwhile
    assert len(target.calls()) == calls_while_open  # open circuit: nothing is sent

    target.sandbox.clear_faults()
    assert down.remaining is None
    await wait_all(gateway, [first["id"], second["id"]], timeout=30)
    assert await _wait_circuit(gateway, target.name, "closed") == "closed"
    assert target.held("DOWN-1") == 1
    assert target.held("DOWN-2") == 1


async def _wait_circuit(gateway: Any, provider: str, state: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        body = await read_json(await gateway.get("/v1/providers", headers=auth()))
        current = next(p["circuit"] for p in body["providers"] if p["name"] == provider)
        if current == state:
            return current
        await asyncio.sleep(0.05)
    return current


async def test_rejection_by_the_provider_is_final_and_not_retried(
    target: Target, clock: SkipAheadClock
) -> None:
    gateway = await target.start()
    target.sandbox.inject(
        target.fault(op=target.create_op, status=422 if target.name != "logitrail" else 400)
    )
    status, body = await submit(gateway, target.order("NO-1"))
    await clock.advance(0.3)  # the submitter's rounds meanwhile: none retries it
    assert status == 422
    assert body["code"] == "provider-rejected"
    assert target.sandbox.count(target.create_op) == 1
