"""A return is submitted and followed the way an order is (one `SubmissionDriver`): a bug in
one return's submission keeps it queued without stopping the others, and its status is read
back by the worker's `ReturnPoller`. (Retries inside the request's budget: test_returns.py.)"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.api.keys import PROVIDERS, SETTINGS, STORE
from gateway.providers.base import ProviderReturn, ReturnSubmission
from gateway.workers.poller import ReturnPoller
from tests.conftest import SandboxHandle, auth, eventually, read_json
from tests.integration.test_returns import placed, provider_ops, returned, wait_for_return
from tests.unit.fakes import FakeClock


async def test_a_bug_in_one_returns_submission_keeps_it_queued_and_the_others_go_on(
    make_gateway: Any, logitrail: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await make_gateway(server__request_budget_s=1.0)
    buggy = await placed(gateway, logitrail, "R-B1")
    other = await placed(gateway, logitrail, "R-B2")
    returns = gateway.server.app[PROVIDERS]["logitrail"].returns
    create_return = returns.create_return
    crashes: list[float] = []
    fixed = False

    async def crashing(submission: ReturnSubmission) -> ProviderReturn:
        if submission.ret.external_id == "RMA-BUG" and not fixed:
            crashes.append(time.monotonic())
            raise RuntimeError("a bug")
        return await create_return(submission)

    async def retried_after_the_answer() -> bool:
        return len(crashes) > answered + 1

    monkeypatch.setattr(returns, "create_return", crashing)

    status, body = await returned(
        gateway, {"order_id": buggy["id"], "external_id": "RMA-BUG"}, "b1"
    )
    # Answered, not a 500: retried on its backoff until the budget ran out, still queued.
    assert status == 202, body
    assert body["status"] == "accepted"
    assert body["submission"]["phase"] == "creating"
    assert body["submission"]["last_error"] == {
        "error": "internal",
        "detail": "RuntimeError('a bug')",
    }
    answered = len(crashes)
    assert answered > 1
    # The background loop goes on retrying it …
    await eventually(retried_after_the_answer)
    # … and on sending the others.
    status, sent = await returned(gateway, {"order_id": other["id"]}, "b2")
    assert status == 201, sent

    fixed = True
    done = await wait_for_return(gateway, body["id"], "registered")
    assert done["submission"]["last_error"] is None
    assert len(logitrail.sandbox.returns) == 2


async def test_the_workers_return_poller_reads_unfinished_returns_back(
    gateway: Any, logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-F2")
    _, created = await returned(gateway, {"order_id": o["id"]}, "f2")
    logitrail.sandbox.advance_return(created["provider_return_id"], "pending_merchant_decision")
    app = gateway.server.app
    later = time.time() + 3600  # every return is due for a read then
    poller = ReturnPoller(
        app[STORE], app[PROVIDERS], app[SETTINGS].returns, clock=FakeClock(wall=later)
    )
    reads = provider_ops(logitrail).count("return_get")

    assert await poller.poll() == 1
    assert await poller.poll() == 0  # just read: not due again for `poll_interval_s`

    moved = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert moved["status"] == "awaiting_decision"
    assert moved["provider_status"] == "pending_merchant_decision"
    assert (moved["history"][-1]["source"], moved["history"][-1]["actor"]) == ("poll", "logitrail")
    assert provider_ops(logitrail).count("return_get") == reads + 1
