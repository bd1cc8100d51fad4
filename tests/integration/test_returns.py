"""Returns through the facade, against the Logitrail sandbox's returns service (issue 10)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.model.return_views import ReturnList, ReturnView
from gateway.model.returns import CanonicalReturn
from gateway.sandbox.logitrail import Fault
from gateway.store import NewReturn
from gateway.submissions.fingerprint import fingerprint
from tests.conftest import SandboxHandle, auth, ca_order, order, read_json, ref
from tests.integration.shipping import ship_at_logitrail
from tests.unit.fakes import SkipAheadClock

HEX24 = re.compile(r"^[0-9a-f]{24}$")


async def submitted(
    gateway: TestClient[Any, Any], external_id: str, **changes: Any
) -> dict[str, Any]:
    """An order the Logitrail sandbox holds (201)."""
    body = order(external_id, **changes)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"o-{external_id}"))
    created = await read_json(resp)
    assert resp.status == 201, created
    return dict(created)


async def placed(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle, external_id: str, **changes: Any
) -> dict[str, Any]:
    """An order Logitrail has shipped, for returns to refer to."""
    return await ship_at_logitrail(
        gateway, logitrail, await submitted(gateway, external_id, **changes)
    )


async def returned(
    gateway: TestClient[Any, Any], body: dict[str, Any], key: str, client: str = "storefront-fi"
) -> tuple[int, dict[str, Any]]:
    resp = await gateway.post("/v1/returns", json=body, headers=auth(client, key=key))
    return resp.status, await read_json(resp)


def provider_ops(handle: SandboxHandle) -> list[str]:
    return [r.op for r in handle.sandbox.requests if r.op.startswith("return_")]


async def wait_for_return(
    gateway: TestClient[Any, Any], return_id: str, status: str
) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = await read_json(
            await gateway.get(f"/v1/returns/{return_id}", headers=auth())
        )
        if body["status"] == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"return {return_id} never reached {status}: {body}")


# create ------------------------------------------------------------------------------------


async def test_return_without_lines_is_created_at_logitrail_with_the_orders_items(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-1")

    resp = await gateway.post(
        "/v1/returns",
        json={"order_id": o["id"], "external_id": "RMA-1", "remarks": "wrong size"},
        headers=auth(key="r-1"),
    )
    body = await read_json(resp)

    assert resp.status == 201, body
    assert resp.headers["Location"] == f"/v1/returns/{body['id']}"
    assert body["id"].startswith("ret_")
    assert body["status"] == "registered"
    assert body["provider"] == "logitrail"
    assert body["provider_status"] == "preinfo_received"
    assert body["provider_order_id"] == o["provider_order_id"]
    assert body["order_id"] == o["id"]
    assert body["type"] == "customer_return"
    assert body["return"]["lines"] is None
    # An unsplit order's return is one provider return: part 1, every line.
    assert [(p["part"], p["provider_return_id"], p["lines"]) for p in body["parts"]] == [
        (1, body["provider_return_id"], None)
    ]
    held = logitrail.sandbox.returns[body["provider_return_id"]]
    assert held.original_order == o["provider_order_id"]
    assert held.name == body["id"]
    assert held.merchant_reference == ref("RMA-1")
    assert held.remarks == "wrong size"
    # Logitrail copied the order's items itself, as the gateway left `items` out.
    assert [(i["product"]["sku"], i["quantity"]) for i in held.items] == [("TSHIRT-M", 2)]
    assert provider_ops(logitrail) == ["return_create"]


async def test_agent_return_with_lines_sends_logitrail_product_ids(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-2")
    status, body = await returned(
        gateway,
        {
            "order_id": o["id"],
            "type": "agent_return",
            "lines": [{"sku": "TSHIRT-M", "quantity": 1}],
        },
        "r-2",
    )

    assert status == 201, body
    held = logitrail.sandbox.returns[body["provider_return_id"]]
    assert held.type == "agent_return"
    product_id = logitrail.sandbox._state.products["TSHIRT-M"]
    assert held.items[0]["product"] == {"id": product_id, "sku": "TSHIRT-M"}
    assert held.items[0]["quantity"] == 1
    assert held.items[0]["original_order"] == {"id": o["provider_order_id"]}


async def test_get_return_shows_its_history(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-3")
    _, created = await returned(gateway, {"order_id": o["id"]}, "r-3")

    resp = await gateway.get(f"/v1/returns/{created['id']}", headers=auth())
    body = await read_json(resp)

    assert resp.status == 200
    assert body["provider_return_id"] == created["provider_return_id"]
    assert [h["status"] for h in body["history"]] == ["accepted", "registered"]
    assert [h["source"] for h in body["history"]] == ["api", "submitter"]
    assert body["submission"] == {"phase": "done", "attempts": 1, "last_error": None}


# list --------------------------------------------------------------------------------------


async def test_list_filters_by_order_and_status_and_pages_with_a_cursor(
    gateway: TestClient[Any, Any],
    logitrail: SandboxHandle,
) -> None:
    first = await placed(gateway, logitrail, "R-L1", lines=[{"sku": "TSHIRT-M", "quantity": 3}])
    second = await placed(gateway, logitrail, "R-L2")
    ids = []
    for n in range(3):
        _, r = await returned(
            gateway,
            {"order_id": first["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 1}]},
            f"l{n}",
        )
        ids.append(r["id"])
    _, other = await returned(gateway, {"order_id": second["id"]}, "l-other")
    cancelled = await read_json(await gateway.post(f"/v1/returns/{ids[0]}/cancel", headers=auth()))
    assert cancelled["status"] == "cancelled"

    page1 = await read_json(
        await gateway.get(f"/v1/returns?order_id={first['id']}&limit=2", headers=auth())
    )
    page2 = await read_json(
        await gateway.get(
            f"/v1/returns?order_id={first['id']}&limit=2&cursor={page1['next_cursor']}",
            headers=auth(),
        )
    )
    registered = await read_json(await gateway.get("/v1/returns?status=registered", headers=auth()))

    assert [r["id"] for r in page1["items"]] == [ids[2], ids[1]]
    assert [r["id"] for r in page2["items"]] == [ids[0]]
    assert page2["next_cursor"] is None
    assert {r["id"] for r in registered["items"]} == {ids[1], ids[2], other["id"]}


async def test_list_refuses_a_bad_status_or_cursor(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/v1/returns?status=lost&cursor=nope", headers=auth())
    body = await read_json(resp)

    assert resp.status == 400
    assert {e["loc"] for e in body["errors"]} == {"query.status", "query.cursor"}


# cancel ------------------------------------------------------------------------------------


async def test_cancel_deletes_the_return_at_logitrail(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-C1")
    _, created = await returned(gateway, {"order_id": o["id"]}, "c1")

    resp = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    body = await read_json(resp)

    assert resp.status == 200, body
    assert body["status"] == "cancelled"
    assert body["provider_status"] == "deleted"
    assert logitrail.sandbox.returns[created["provider_return_id"]].status == "deleted"
    assert [h["status"] for h in body["history"]] == ["accepted", "registered", "cancelled"]
    again = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    assert again.status == 200
    assert provider_ops(logitrail).count("return_cancel") == 1


async def test_cancel_is_refused_with_logitrails_reason_when_the_inbound_is_processing(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-C2")
    _, created = await returned(gateway, {"order_id": o["id"]}, "c2")
    logitrail.sandbox.set_inbound(created["provider_return_id"], "processing")

    resp = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    body = await read_json(resp)

    assert resp.status == 409
    assert body["code"] == "not-cancellable"
    assert body["provider"] == "logitrail"
    assert body["provider_code"] == "inbound_shipment_already_processing"
    assert "already being processed" in body["detail"]
    assert logitrail.sandbox.returns[created["provider_return_id"]].status == "preinfo_received"
    view = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert view["status"] == "registered"


async def test_cancel_is_refused_once_the_return_is_past_pending(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-C3")
    _, created = await returned(gateway, {"order_id": o["id"]}, "c3")
    logitrail.sandbox.advance_return(created["provider_return_id"], "processing")

    resp = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    body = await read_json(resp)

    assert resp.status == 409
    assert body["code"] == "not-cancellable"
    assert body["provider_code"] == "order_return_not_cancellable"
    assert "processing" in body["detail"]


# decision ----------------------------------------------------------------------------------


async def test_to_shelf_decision_is_recorded_and_creates_the_inbound(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-D1")
    _, created = await returned(gateway, {"order_id": o["id"]}, "d1")

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "to_shelf"}, headers=auth()
    )
    body = await read_json(resp)

    assert resp.status == 200, body
    assert body["decision"] == "to_shelf"
    assert body["status"] == "registered"
    held = logitrail.sandbox.returns[created["provider_return_id"]]
    assert held.merchant_decision == "to_shelf"
    assert held.inbound_shipment is not None
    assert held.inbound_shipment["status"] == "pending"


async def test_decision_on_arrived_goods_moves_the_return_on(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-D2")
    _, created = await returned(gateway, {"order_id": o["id"]}, "d2")
    logitrail.sandbox.advance_return(created["provider_return_id"], "pending_merchant_decision")

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "resend"}, headers=auth()
    )
    body = await read_json(resp)

    assert resp.status == 200, body
    assert body["status"] == "in_progress"
    assert body["provider_status"] == "resend_pending"
    assert body["decision"] == "resend"


async def test_an_unknown_decision_code_is_refused_before_any_call(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-D3")
    _, created = await returned(gateway, {"order_id": o["id"]}, "d3")

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "burn"}, headers=auth()
    )
    body = await read_json(resp)

    assert resp.status == 422
    assert body["errors"][0]["loc"] == "code"
    assert "return_decision" not in provider_ops(logitrail)


async def test_a_decision_logitrail_no_longer_allows_is_a_409_with_its_reason(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-D4")
    _, created = await returned(gateway, {"order_id": o["id"]}, "d4")
    logitrail.sandbox.advance_return(created["provider_return_id"], "processed")

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "destroy"}, headers=auth()
    )
    body = await read_json(resp)

    assert resp.status == 409
    assert body["code"] == "decision-not-allowed"
    assert body["provider_code"] == "order_return_decision_not_allowed"


# refusals before any provider call --------------------------------------------------------


async def test_unknown_order_is_a_422_on_order_id(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    status, body = await returned(gateway, {"order_id": "ord_01KB0000000000000000000000"}, "u1")

    assert status == 422
    assert body["code"] == "order-not-found"
    assert body["errors"] == [{"loc": "order_id", "msg": "no such order"}]
    assert provider_ops(logitrail) == []


async def test_another_tenants_order_and_return_do_not_exist(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-T1")
    _, mine = await returned(gateway, {"order_id": o["id"]}, "t1")

    status, body = await returned(gateway, {"order_id": o["id"]}, "t1", client="storefront-se")
    assert status == 422
    assert body["code"] == "order-not-found"
    se = auth("storefront-se")
    assert (await gateway.get(f"/v1/returns/{mine['id']}", headers=se)).status == 404
    assert (await gateway.post(f"/v1/returns/{mine['id']}/cancel", headers=se)).status == 404
    decision = await gateway.post(
        f"/v1/returns/{mine['id']}/decision", json={"code": "reject"}, headers=se
    )
    assert decision.status == 404
    listed = await read_json(await gateway.get("/v1/returns", headers=se))
    assert listed["items"] == []
    assert provider_ops(logitrail) == ["return_create"]


async def test_lines_must_be_on_the_order_and_not_more_than_ordered(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-V1")
    status, body = await returned(
        gateway,
        {
            "order_id": o["id"],
            "lines": [
                {"sku": "MUG", "quantity": 1},
                {"sku": "TSHIRT-M", "quantity": 2},
                {"sku": "TSHIRT-M", "quantity": 1},
            ],
        },
        "v1",
    )

    assert status == 422
    assert [e["loc"] for e in body["errors"]] == ["lines[0].sku", "lines[2].quantity"]
    assert provider_ops(logitrail) == []


async def test_a_logentic_order_cannot_be_returned_through_the_gateway(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    resp = await gateway.post("/v1/orders", json=ca_order("CA-R1"), headers=auth(key="o-ca"))
    o = await read_json(resp)
    assert resp.status == 201, o

    status, body = await returned(gateway, {"order_id": o["id"]}, "ca-r1")

    assert status == 422
    assert body["code"] == "returns-unsupported"
    assert body["provider"] == "logentic"
    assert "logentic" in body["title"]


async def test_a_client_without_returns_scopes_is_forbidden(
    make_gateway: Any,
) -> None:
    gateway = await make_gateway(
        clients=[
            {"id": "storefront-fi", "key_env": "KEY_FI", "scopes": ["orders:write", "orders:read"]}
        ]
    )
    resp = await gateway.get("/v1/returns", headers=auth())
    assert resp.status == 403


# idempotency ------------------------------------------------------------------------------


async def test_replay_answers_the_stored_response_without_a_second_return(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-I1")
    first = await gateway.post("/v1/returns", json={"order_id": o["id"]}, headers=auth(key="i1"))
    first_body = await first.read()

    again = await gateway.post("/v1/returns", json={"order_id": o["id"]}, headers=auth(key="i1"))

    assert again.status == first.status == 201
    assert await again.read() == first_body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert provider_ops(logitrail) == ["return_create"]
    assert len(logitrail.sandbox.returns) == 1


async def test_same_key_other_body_is_a_422_and_no_key_a_400(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-I2")
    await returned(gateway, {"order_id": o["id"]}, "i2")

    status, body = await returned(gateway, {"order_id": o["id"], "remarks": "other"}, "i2")
    assert status == 422
    assert body["code"] == "idempotency-key-reused"
    # The order's own key (same client) is taken too: keys are per client, not per resource.
    status, body = await returned(gateway, {"order_id": o["id"], "remarks": "x"}, "o-R-I2")
    assert status == 422
    assert body["code"] == "idempotency-key-reused"
    resp = await gateway.post("/v1/returns", json={"order_id": o["id"]}, headers=auth())
    assert resp.status == 400
    assert (await read_json(resp))["code"] == "idempotency-key-missing"
    assert provider_ops(logitrail) == ["return_create"]


async def test_same_key_while_the_first_request_runs_is_a_409(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-I3")
    logitrail.sandbox.inject(Fault(op="return_create", hold=True))
    first = asyncio.create_task(returned(gateway, {"order_id": o["id"]}, "i3"))
    await logitrail.sandbox.wait_held("return_create")

    status, body = await returned(gateway, {"order_id": o["id"]}, "i3")
    logitrail.sandbox.release()
    first_status, _ = await first

    assert status == 409
    assert body["code"] == "request-in-progress"
    assert first_status == 201
    assert len(logitrail.sandbox.returns) == 1


async def test_a_second_return_with_the_same_external_id_is_a_409(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-I4")
    _, first = await returned(gateway, {"order_id": o["id"], "external_id": "RMA-9"}, "i4a")

    status, body = await returned(
        gateway, {"order_id": o["id"], "external_id": "RMA-9", "remarks": "again"}, "i4b"
    )

    assert status == 409
    assert body["code"] == "return-exists"
    assert body["return_id"] == first["id"]
    assert len(logitrail.sandbox.returns) == 1


# provider trouble -------------------------------------------------------------------------


async def test_a_create_whose_answer_was_lost_is_reconciled_not_sent_twice(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-P1")
    logitrail.sandbox.inject(Fault(op="return_create", status=502, after=True))

    status, body = await returned(gateway, {"order_id": o["id"]}, "p1")
    # Reconciled by the retry inside the request's budget, as an order's would be.
    assert status == 201, body
    assert body["status"] == "registered"

    done = await wait_for_return(gateway, body["id"], "registered")
    assert len(logitrail.sandbox.returns) == 1
    assert done["provider_return_id"] in logitrail.sandbox.returns
    assert provider_ops(logitrail) == ["return_create", "return_list"]


async def test_a_provider_outage_within_the_budget_is_retried_while_the_caller_waits(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-P2")
    logitrail.sandbox.inject(Fault(op="return_create", status=503, count=2))

    status, body = await returned(gateway, {"order_id": o["id"]}, "p2")

    assert status == 201, body
    assert body["status"] == "registered"
    assert body["submission"]["phase"] == "done"
    assert len(logitrail.sandbox.returns) == 1
    # Each retry asked the provider first: the create's outcome was unknown.
    assert provider_ops(logitrail) == ["return_create", "return_list"] * 2 + ["return_create"]


async def test_a_provider_outage_past_the_budget_queues_the_return_and_it_is_sent_later(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(server__request_budget_s=1.0)
    o = await placed(gateway, logitrail, "R-P4")
    # Seven failures take at least 1.125 s of backoff (0.025 s, doubling, up to 0.25 s).
    logitrail.sandbox.inject(Fault(op="return_create", status=503, count=7))

    # The budget and the backoff are the clock's: skip them rather than sit through them.
    status, body = await clock.skipping(returned(gateway, {"order_id": o["id"]}, "p4"))
    assert status == 202, body
    assert body["submission"]["last_error"]["provider_status"] == 503

    for _ in range(100):
        done = await read_json(await gateway.get(f"/v1/returns/{body['id']}", headers=auth()))
        if done["status"] == "registered":
            break
        await clock.advance(0.1)  # the submitter's backoff
    assert done["status"] == "registered", done
    assert len(logitrail.sandbox.returns) == 1
    assert done["submission"]["phase"] == "done"
    assert provider_ops(logitrail).count("return_create") == 8


async def test_logitrail_refusing_the_return_is_a_422_that_carries_it(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-P3")
    logitrail.sandbox.inject(
        Fault(
            op="return_create",
            status=400,
            body={"code": "original_order.not_returnable", "message": "order not returnable"},
        )
    )

    status, body = await returned(gateway, {"order_id": o["id"]}, "p3")

    assert status == 422, body
    assert body["code"] == "provider-rejected"
    assert body["provider_code"] == "original_order.not_returnable"
    assert body["return"]["status"] == "rejected"
    cancel = await gateway.post(f"/v1/returns/{body['return']['id']}/cancel", headers=auth())
    assert cancel.status == 409


# following returns at the provider ---------------------------------------------------------


async def test_polling_follows_the_return_at_logitrail(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(returns__poll_interval_s=1)
    o = await placed(gateway, logitrail, "R-F1")
    _, created = await returned(gateway, {"order_id": o["id"]}, "f1")

    def polls() -> int:
        return len([r for r in logitrail.sandbox.requests if r.op == "return_get"])

    async def polled(reads: int) -> None:
        while polls() < reads:
            await asyncio.sleep(0.01)

    before = polls()
    # A round every second of the clock; from the second on, the return is due in each (read
    # at least a poll interval ago): skip the clock until two more reads happened (a round
    # may be running in real time when a skip starts, so poll for it, bounded).
    await clock.skipping(polled(before + 2))
    unchanged = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))

    logitrail.sandbox.advance_return(created["provider_return_id"], "pending_merchant_decision")
    # the next round reads the move
    moved = await clock.skipping(wait_for_return(gateway, created["id"], "awaiting_decision"))

    # Reads that found nothing new leave the return as it was, updated_at included.
    assert unchanged["updated_at"] == created["updated_at"]
    assert moved["provider_status"] == "pending_merchant_decision"
    assert moved["history"][-1]["source"] == "poll"
    assert moved["updated_at"] > created["updated_at"]


async def test_a_request_that_died_after_storing_its_return_is_resumed_not_repeated(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    # Arrange what a process killed between "return stored" and "answer sent" leaves behind:
    # a running idempotency record whose lock ran out, linked to a pending return.
    o = await placed(gateway, logitrail, "R-X1")
    body = {"order_id": o["id"], "external_id": "RMA-X1"}
    ret = CanonicalReturn.model_validate(body)
    store = gateway.server.app[STORE]
    past = time.time() - 100
    await store.begin_idempotent(
        "storefront-fi", "x1", fingerprint(ret), now=past, lock_s=1, ttl_s=3600
    )
    await store.insert_return(
        NewReturn(
            id="ret_01KB0000000000000000000X01",
            client_id="storefront-fi",
            order_id=o["id"],
            external_id="RMA-X1",
            provider="logitrail",
            provider_order_id=o["provider_order_id"],
            type="customer_return",
            body=ret.model_dump_json(),
        ),
        now=past,
        idempotency=("storefront-fi", "x1"),
        lease_owner=None,
        lease_until=None,
    )

    status, answer = await returned(gateway, body, "x1")
    done = await wait_for_return(gateway, "ret_01KB0000000000000000000X01", "registered")

    assert status in (201, 202)
    assert answer["id"] == "ret_01KB0000000000000000000X01"
    assert len(logitrail.sandbox.returns) == 1
    assert logitrail.sandbox.returns[done["provider_return_id"]].merchant_reference == "RMA-X1"


async def test_the_whole_return_life_on_postgresql(
    make_gateway: Any, logitrail: SandboxHandle, postgres_db: Any
) -> None:
    gateway = await make_gateway(
        store__url=await postgres_db.new_schema_url(), returns__poll_interval_s=0.05
    )
    o = await placed(gateway, logitrail, "R-PG1")
    status, created = await returned(gateway, {"order_id": o["id"], "external_id": "RMA-PG"}, "pg1")
    assert status == 201, created
    again_status, again = await returned(
        gateway, {"order_id": o["id"], "external_id": "RMA-PG"}, "pg1"
    )
    assert (again_status, again["id"]) == (201, created["id"])
    status, exists = await returned(
        gateway, {"order_id": o["id"], "external_id": "RMA-PG", "remarks": "x"}, "pg2"
    )
    assert (status, exists["code"]) == (409, "return-exists")

    decided = await read_json(
        await gateway.post(
            f"/v1/returns/{created['id']}/decision", json={"code": "to_shelf"}, headers=auth()
        )
    )
    logitrail.sandbox.advance_return(created["provider_return_id"], "pending_merchant_decision")
    polled = await wait_for_return(gateway, created["id"], "awaiting_decision")
    listed = await read_json(
        await gateway.get(
            f"/v1/returns?order_id={o['id']}&status=awaiting_decision", headers=auth()
        )
    )
    o2 = await placed(gateway, logitrail, "R-PG2")
    _, other = await returned(gateway, {"order_id": o2["id"]}, "pg3")
    cancelled = await read_json(
        await gateway.post(f"/v1/returns/{other['id']}/cancel", headers=auth())
    )

    assert decided["decision"] == "to_shelf"
    assert [r["id"] for r in listed["items"]] == [created["id"]]
    assert polled["history"][-1]["source"] == "poll"
    assert [(h["status"], h["source"]) for h in polled["history"]] == [
        ("accepted", "api"),
        ("registered", "submitter"),
        ("registered", "api"),  # the decision, which left the status as it was
        ("awaiting_decision", "poll"),
    ]
    assert cancelled["status"] == "cancelled"
    assert [h["status"] for h in cancelled["history"]] == ["accepted", "registered", "cancelled"]
    assert logitrail.sandbox.returns[other["provider_return_id"]].status == "deleted"
    assert len(logitrail.sandbox.returns) == 2


async def test_answers_match_the_published_shapes(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-S1")
    _, created = await returned(
        gateway, {"order_id": o["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 1}]}, "s1"
    )
    one = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    listed = await read_json(await gateway.get("/v1/returns", headers=auth()))

    ReturnView.model_validate(created)
    assert ReturnView.model_validate(one).history is not None
    assert len(ReturnList.model_validate(listed).items) == 1


async def test_return_events_reach_the_tenants_feed(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await placed(gateway, logitrail, "R-E1")
    _, created = await returned(gateway, {"order_id": o["id"], "external_id": "RMA-E1"}, "e1")
    await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())

    feed = await read_json(await gateway.get("/v1/events?limit=100", headers=auth()))
    other = await read_json(
        await gateway.get("/v1/events?limit=100", headers=auth("storefront-se"))
    )

    mine = [e for e in feed["items"] if e["type"].startswith("return.")]
    assert [(e["type"], e["data"]["status"]) for e in mine] == [
        ("return.created", "accepted"),
        ("return.status_changed", "registered"),
        ("return.cancelled", "cancelled"),
    ]
    assert {e["data"]["return_id"] for e in mine} == {created["id"]}
    assert mine[-1]["data"]["previous_status"] == "registered"
    assert mine[-1]["data"]["external_id"] == "RMA-E1"
    assert not [e for e in other["items"] if e["type"].startswith("return.")]
