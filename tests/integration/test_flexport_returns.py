"""Returns of Flexport orders (issue 10): refused unless the account's returns approval is
configured (`returns_enabled`); then through Flexport's returns API in the sandbox."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.sandbox.flexport import Fault
from tests.conftest import FLEXPORT_RULES, FlexportHandle, auth, b2b_order, gb_order, read_json, ref
from tests.integration.shipping import ship_at_flexport


def return_ops(handle: FlexportHandle) -> list[str]:
    return [r.op for r in handle.sandbox.requests if r.op.startswith("return_")]


async def placed(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, body: dict[str, Any]
) -> dict[str, Any]:
    """An order Flexport has shipped (only those take returns)."""
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"o-{body['external_id']}"))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    return await ship_at_flexport(gateway, flexport, created)


async def returned(
    gateway: TestClient[Any, Any], body: dict[str, Any], key: str
) -> tuple[int, dict[str, Any]]:
    resp = await gateway.post("/v1/returns", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


async def enabled(make_gateway: Any, flexport: FlexportHandle) -> TestClient[Any, Any]:
    flexport.sandbox.approve_returns()
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=FLEXPORT_RULES, providers__flexport__returns_enabled=True
    )
    return client


async def test_without_the_approval_in_config_a_flexport_return_is_unsupported(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES)
    o = await placed(gateway, flexport, gb_order("GB-R0"))

    status, body = await returned(gateway, {"order_id": o["id"]}, "fx-r0")

    assert status == 422
    assert body["code"] == "returns-unsupported"
    assert body["provider"] == "flexport"
    assert return_ops(flexport) == []


async def test_an_approved_account_creates_the_return_with_the_orders_lines(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await enabled(make_gateway, flexport)
    o = await placed(gateway, flexport, b2b_order("WH-R1"))

    status, body = await returned(gateway, {"order_id": o["id"], "external_id": "RMA-F1"}, "f1")

    assert status == 201, body
    assert body["status"] == "registered"
    assert body["provider_status"] == "CREATED"
    held = flexport.sandbox.returns[int(body["provider_return_id"])]
    assert held.body["rma"] == ref("RMA-F1")
    assert held.body["externalReturnId"] == body["id"]
    assert held.body["logisticsOrderId"] == o["provider_order_id"]
    assert held.body["returnItems"] == [
        {"identifier": "TSHIRT-M", "type": "SKU", "quantity": 30},
        {"identifier": "MUG", "type": "SKU", "quantity": 12},
    ]
    assert held.body["sourceAddress"]["city"] == "Reno"
    assert flexport.sandbox.state.keys  # sent with an idempotency key


async def test_cancel_until_received_then_refused_with_flexports_reason(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await enabled(make_gateway, flexport)
    o = await placed(gateway, flexport, gb_order("GB-R2"))
    one = [{"sku": "TSHIRT-M", "quantity": 1}]  # of the two ordered: one return each
    _, first = await returned(gateway, {"order_id": o["id"], "lines": one}, "f2a")
    _, second = await returned(gateway, {"order_id": o["id"], "lines": one}, "f2b")
    flexport.sandbox.advance_return(first["provider_return_id"], "SHIPPED")
    flexport.sandbox.advance_return(second["provider_return_id"], "RECEIVED_FOR_PROCESSING")

    ok = await gateway.post(f"/v1/returns/{first['id']}/cancel", headers=auth())
    refused = await gateway.post(f"/v1/returns/{second['id']}/cancel", headers=auth())
    refused_body = await read_json(refused)

    assert ok.status == 200
    assert (await read_json(ok))["status"] == "cancelled"
    assert flexport.sandbox.returns[int(first["provider_return_id"])].status == "CANCELLED"
    assert refused.status == 409
    assert refused_body["code"] == "not-cancellable"
    assert refused_body["provider"] == "flexport"
    assert "received" in refused_body["detail"]


async def test_flexport_takes_no_decision(make_gateway: Any, flexport: FlexportHandle) -> None:
    gateway = await enabled(make_gateway, flexport)
    o = await placed(gateway, flexport, gb_order("GB-R3"))
    _, created = await returned(gateway, {"order_id": o["id"]}, "f3")

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "to_shelf"}, headers=auth()
    )
    body = await read_json(resp)

    assert resp.status == 422
    assert body["code"] == "decision-unsupported"
    assert body["provider"] == "flexport"
    assert return_ops(flexport) == ["return_create"]


async def test_a_lost_create_answer_is_resent_with_its_key_and_is_one_return(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await enabled(make_gateway, flexport)
    o = await placed(gateway, flexport, gb_order("GB-R4"))
    flexport.sandbox.inject(Fault(op="return_create", status=502, after=True))

    status, body = await returned(gateway, {"order_id": o["id"]}, "f4")

    assert status == 201, body
    assert len(flexport.sandbox.returns) == 1
    assert return_ops(flexport) == ["return_create", "return_create"]
    assert flexport.sandbox.state.replayed == [f"{body['id']}:create"]


async def test_the_sandbox_refuses_returns_to_an_account_without_approval(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    # Enabled in the gateway, but Flexport never approved the account: nothing is created,
    # the return waits (a 403 is an operator's problem) and the reason is on the return.
    gateway = await make_gateway(
        routing__rules=FLEXPORT_RULES, providers__flexport__returns_enabled=True
    )
    o = await placed(gateway, flexport, gb_order("GB-R5"))

    status, body = await returned(gateway, {"order_id": o["id"]}, "f5")

    assert status == 202, body
    assert body["submission"]["last_error"]["provider_status"] == 403
    assert flexport.sandbox.returns == {}
