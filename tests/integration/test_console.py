"""The operator console: sign-in, sessions, CSRF, tenant scoping and each action, on both
stores, through the real app on a real socket (the browser test drives the same in chromium)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import SandboxHandle, auth, eventually, order, read_json
from tests.integration.shipping import ship_at_logitrail
from tests.integration.test_events_out import Receiver, receiver, subscriber

__all__ = ["receiver"]

Gateway = TestClient[Any, Any]
ALL_KEY, FI_KEY, SE_KEY = "op-all-key", "op-fi-key", "op-se-key"
OPERATORS = [
    {"id": "alice", "key_sha256": hashlib.sha256(ALL_KEY.encode()).hexdigest()},
    {
        "id": "fiona",
        "key_sha256": hashlib.sha256(FI_KEY.encode()).hexdigest(),
        "tenants": ["storefront-fi"],
    },
    {
        "id": "sven",
        "key_sha256": hashlib.sha256(SE_KEY.encode()).hexdigest(),
        "tenants": ["storefront-se"],
    },
]
HOLD = [{"name": "fraud-check", "when": {"tags_any": ["risky"]}}]
PAGES = ("/console/", "/console/lists", "/console/providers")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    return store_url


async def start(make_gateway: Callable[..., Any], **extra: Any) -> Gateway:
    gateway: Gateway = await make_gateway(operators=OPERATORS, holds=HOLD, **extra)
    return gateway


async def sign_in(gateway: Gateway, key: str) -> str:
    """Sign in (the cookie lands in the client's jar); the CSRF token of the session."""
    resp = await gateway.post("/console/sign-in", data={"key": key})
    assert resp.status == 200, await resp.text()
    assert str(resp.url).endswith("/console/")
    found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def submit(gateway: Gateway, body: dict[str, Any], status: int = 201) -> Any:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    assert resp.status == status, await resp.text()
    return await read_json(resp)


async def history(gateway: Gateway, order_id: str) -> list[tuple[str, str, str]]:
    seen = await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))
    return [(h["status"], h["source"], h["actor"]) for h in seen["history"]]


async def test_nothing_works_without_a_session(make_gateway: Callable[..., Any]) -> None:
    gateway = await start(make_gateway)
    body = await submit(gateway, order("C-1"))
    for path in (
        "/console/",
        "/console/lists",
        "/console/providers",
        f"/console/orders/{body['id']}",
    ):
        resp = await gateway.get(path, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, "/console/sign-in")
    assert (await gateway.get("/console/providers.json")).status == 401
    for action in ("cancel", "release", "refresh", "retry"):
        resp = await gateway.post(
            f"/console/orders/{body['id']}/{action}", data={"confirmed": "yes"}
        )
        assert resp.status == 401
    assert (await history(gateway, body["id"]))[-1][0] == "submitted"
    gateway.session.cookie_jar.update_cookies({"gateway_console": "alice.99999999999.x.forged"})
    assert (await gateway.get("/console/providers.json")).status == 401
    # a cookie that is not ASCII is no session either (never a 500)
    forged = "alice.99999999999.x.%C3%A4%C3%A4"
    assert (
        await gateway.get(
            "/console/providers.json", headers={"Cookie": f"gateway_console={forged}"}
        )
    ).status == 401


async def test_sign_in_cookie_and_the_same_answer_for_any_wrong_key(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await start(make_gateway)
    resp = await gateway.post("/console/sign-in", data={"key": ALL_KEY}, allow_redirects=False)
    assert resp.status == 303
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    tls = await gateway.post(
        "/console/sign-in",
        data={"key": ALL_KEY},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert "Secure" in tls.headers["Set-Cookie"]
    wrong = await gateway.post("/console/sign-in", data={"key": ALL_KEY + "x"})
    unknown = await gateway.post("/console/sign-in", data={"key": "nobody"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.text()) == (await unknown.text())
    assert "Set-Cookie" not in wrong.headers


async def test_sign_in_attempts_are_rate_limited(make_gateway: Callable[..., Any]) -> None:
    gateway = await start(make_gateway, console__sign_in_per_minute=3)
    answers = [(await gateway.post("/console/sign-in", data={"key": "x"})).status for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    # Even the right key waits.
    assert (await gateway.post("/console/sign-in", data={"key": ALL_KEY})).status == 429


async def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await start(make_gateway)
    body = await submit(gateway, order("C-2"))
    token = await sign_in(gateway, ALL_KEY)
    path = f"/console/orders/{body['id']}/cancel"
    assert (await gateway.post(path, data={"confirmed": "yes"})).status == 403
    bad = {"confirmed": "yes", "csrf": "0" * 64}
    assert (await gateway.post(path, data=bad)).status == 403
    not_ascii = {"confirmed": "yes", "csrf": "ä" * 64}
    assert (await gateway.post(path, data=not_ascii)).status == 403
    assert (await history(gateway, body["id"]))[-1][0] == "submitted"
    ok = await gateway.post(path, data={"confirmed": "yes", "csrf": token})
    assert ok.status == 200
    assert "Done: cancel" in await ok.text()


async def test_cancel_asks_first_then_cancels_as_the_operator(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await start(make_gateway)
    body = await submit(gateway, order("C-3"))
    token = await sign_in(gateway, FI_KEY)
    path = f"/console/orders/{body['id']}/cancel"
    first = await gateway.post(path, data={"csrf": token})
    assert "Yes, cancel it" in await first.text()
    assert (await history(gateway, body["id"]))[-1][0] == "submitted"
    await gateway.post(path, data={"csrf": token, "confirmed": "yes"})
    # Whichever records it (the provider's answer, or its webhook reporting it first), the
    # cancellation is the operator's, from the console.
    assert (await history(gateway, body["id"]))[-1] == ("cancelled", "console", "fiona")
    feed = await read_json(await gateway.get("/v1/events", headers=auth()))
    cancelled = [e["data"] for e in feed["items"] if e["type"] == "order.cancelled"]
    assert [(d["source"], d["actor"]) for d in cancelled] == [("console", "fiona")]


async def test_cancel_of_an_order_not_yet_at_a_provider_is_the_operators(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await start(make_gateway)
    held = await submit(gateway, order("C-5", tags=["risky"]), status=202)
    token = await sign_in(gateway, ALL_KEY)
    done = await gateway.post(
        f"/console/orders/{held['id']}/cancel", data={"csrf": token, "confirmed": "yes"}
    )
    assert done.status == 200, await done.text()
    assert (await history(gateway, held["id"]))[-1] == ("cancelled", "console", "alice")


async def test_release_and_refresh_are_the_operators(make_gateway: Callable[..., Any]) -> None:
    gateway = await start(make_gateway)
    held = await submit(gateway, order("C-4", tags=["risky"]), status=202)
    token = await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get(f"/console/orders/{held['id']}")).text()
    assert 'id="release"' in page
    listed = await (await gateway.get("/console/lists")).text()
    assert held["id"] in listed
    resp = await gateway.post(f"/console/orders/{held['id']}/release", data={"csrf": token})
    assert resp.status == 200, await resp.text()
    steps = await history(gateway, held["id"])
    assert ("submitted", "submitter", "submitter") in steps or steps[-1][1] == "console"
    assert any(s[1:] == ("console", "alice") for s in steps)
    again = await gateway.post(f"/console/orders/{held['id']}/release", data={"csrf": token})
    assert again.status == 409  # the same check as the API: not held any more
    refreshed = await gateway.post(f"/console/orders/{held['id']}/refresh", data={"csrf": token})
    assert refreshed.status == 200


async def test_an_operator_sees_only_its_tenants(make_gateway: Callable[..., Any]) -> None:
    gateway = await start(make_gateway)
    body = await submit(gateway, order("C-5"))
    token = await sign_in(gateway, SE_KEY)
    assert (await gateway.get(f"/console/orders/{body['id']}")).status == 404
    cancel = await gateway.post(
        f"/console/orders/{body['id']}/cancel", data={"csrf": token, "confirmed": "yes"}
    )
    assert cancel.status == 404
    for q in (body["id"], "C-5", body["provider_order_id"]):
        page = await (await gateway.get("/console/", params={"q": q})).text()
        assert "Nothing found" in page
    assert body["id"] not in await (await gateway.get("/console/lists?older_than_min=0")).text()


async def test_find_by_each_kind_of_id(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await start(make_gateway)
    body = await ship_at_logitrail(gateway, logitrail, await submit(gateway, order("C-6")))
    resp = await gateway.post("/v1/returns", json={"order_id": body["id"]}, headers=auth(key="r6"))
    assert resp.status == 201, await resp.text()
    ret = await read_json(resp)
    await sign_in(gateway, ALL_KEY)
    for q in (body["id"], "C-6", body["provider_order_id"], ret["id"]):
        resp = await gateway.get("/console/", params={"q": q})
        assert str(resp.url).endswith(f"/console/orders/{body['id']}"), q
        page = await resp.text()
        assert 'id="exchanges"' in page
        assert 'id="history"' in page


async def test_retry_of_a_dead_letter_from_the_console(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, receiver: Receiver
) -> None:
    gateway = await start(
        make_gateway,
        subscribers=[subscriber(receiver.url, max_attempts=1, events=["order.cancelled"])],
        events__dispatch_interval_s=0.02,
    )
    body = await submit(gateway, order("C-7"))
    await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())

    async def dead() -> Any:
        page = await read_json(await gateway.get("/v1/deliveries?state=dead", headers=auth()))
        return page["items"]

    [item] = await eventually(dead)
    token = await sign_in(gateway, ALL_KEY)
    assert item["event"]["id"] in await (await gateway.get("/console/lists")).text()
    receiver.status = 200
    resp = await gateway.post(
        f"/console/orders/{body['id']}/retry",
        data={"csrf": token, "subscriber": "oms", "event": item["event"]["id"]},
    )
    assert resp.status == 200, await resp.text()
    assert await eventually(lambda: _delivered(gateway))


async def _delivered(gateway: Gateway) -> bool:
    page = await read_json(await gateway.get("/v1/deliveries?state=delivered", headers=auth()))
    return bool(page["items"])


async def test_providers_page_and_its_json(make_gateway: Callable[..., Any]) -> None:
    gateway = await start(make_gateway)
    await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get("/console/providers")).text()
    assert 'data-provider="logitrail"' in page
    data = await read_json(await gateway.get("/console/providers.json"))
    assert {p["name"] for p in data["providers"]} >= {"logitrail"}
    assert all("circuit" in p and "queue" in p for p in data["providers"])


async def test_an_order_page_lists_the_orders_provider_exchanges(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await start(make_gateway)
    body = await submit(gateway, order("C-X"))
    await sign_in(gateway, ALL_KEY)

    async def page() -> str | None:
        text = await (await gateway.get(f"/console/orders/{body['id']}")).text()
        # exchanges reach the store with the recorder's next flush
        return text if "<td>create</td>" in text else None

    text = await eventually(page)
    section = text[text.index('id="exchanges"') :]
    assert "<code>POST " in section
    assert "No exchanges recorded" not in section
