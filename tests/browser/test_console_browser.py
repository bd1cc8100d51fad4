"""The operator console in a real headless browser: Debian's chromium driven by selenium
through chromedriver, against a real gateway on a real port with its sandboxes in-process.

Skipped, saying why, only where no chromium or chromedriver is installed (`.ci/run` installs
them from Debian's packages). The screenshot in the README is taken here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.logitrail import Fault
from tests.conftest import SandboxHandle, auth, eventually, order, read_json
from tests.integration.shipping import ship_at_logitrail
from tests.integration.test_console import ALL_KEY, HOLD, OPERATORS, submit
from tests.integration.test_events_out import Receiver, receiver, subscriber

__all__ = ["receiver"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
"""The README's screenshot: rewritten only when `UPDATE_SCREENSHOT=1` (a test run leaves the
checkout as it found it); otherwise the shot goes to the test's temporary folder."""

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        "no chromium/chromedriver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1100")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def text(driver: Any) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def until(driver: Any, check: Callable[[], bool], what: str) -> None:
    """Wait for the page a click loads (the click returns before it has)."""

    def ok(_d: Any) -> bool:
        try:
            return check()
        except StaleElementReferenceException:
            return False

    WebDriverWait(driver, 10).until(ok, message=what)


def shows(driver: Any, words: str) -> None:
    until(driver, lambda: words in text(driver), f"page never showed {words!r}")


def wait_for(driver: Any, path: str, words: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        driver.get(path)
        if words in text(driver):
            return
        time.sleep(0.3)
    raise AssertionError(f"{words!r} never appeared on {path}: {text(driver)[:500]}")


async def test_console_in_chromium(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    receiver: Receiver,
    browser: Any,
    tmp_path: Path,
) -> None:
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "console.png"
    gateway = await make_gateway(
        operators=OPERATORS,
        holds=HOLD,
        subscribers=[subscriber(receiver.url, max_attempts=1, events=["order.cancelled"])],
        events__dispatch_interval_s=0.02,
        providers__logitrail__circuit={"failure_threshold": 2, "cool_down_s": 600},
    )
    base = str(gateway.make_url("")).rstrip("/")
    shown = await submit(gateway, order("SHOP-1001"))
    held = await submit(gateway, order("SHOP-1002", tags=["risky"]), status=202)
    shown = await ship_at_logitrail(gateway, logitrail, shown)
    resp = await gateway.post("/v1/returns", json={"order_id": shown["id"]}, headers=auth(key="r1"))
    assert resp.status == 201, await resp.text()
    returned = await read_json(resp)
    doomed = await submit(gateway, order("SHOP-1005"))
    dead = await submit(gateway, order("SHOP-1003"))
    await gateway.post(f"/v1/orders/{dead['id']}/cancel", headers=auth())

    async def dead_letters() -> Any:
        page = await read_json(await gateway.get("/v1/deliveries?state=dead", headers=auth()))
        return page["items"]

    await eventually(dead_letters)

    def no_session_then_sign_in() -> None:
        b = browser
        for path in (
            "/console/",
            "/console/lists",
            "/console/providers",
            f"/console/orders/{shown['id']}",
        ):
            b.get(base + path)
            assert b.current_url.endswith("/console/sign-in"), path
        b.find_element(By.ID, "key").send_keys("not-a-key")
        b.find_element(By.ID, "sign-in").click()
        shows(b, "Unknown operator key")
        b.find_element(By.ID, "key").send_keys(ALL_KEY)
        b.find_element(By.ID, "sign-in").click()
        shows(b, "Find an order")

    def search_each_kind() -> None:
        b = browser
        for q in (shown["id"], "SHOP-1001", shown["provider_order_id"], returned["id"]):
            b.get(base + "/console/")
            b.find_element(By.ID, "q").send_keys(q)
            b.find_element(By.ID, "find").click()
            until(b, lambda: b.current_url.endswith(f"/console/orders/{shown['id']}"), q)
            shows(b, "Provider exchanges")
            assert b.find_element(By.ID, "exchanges").is_displayed()

    def cancel_release_retry() -> None:
        b = browser
        b.get(f"{base}/console/orders/{doomed['id']}")
        b.find_element(By.ID, "cancel").click()
        shows(b, "cannot be undone")
        b.find_element(By.ID, "confirm-cancel").click()
        shows(b, "Done: cancel")
        assert b.find_element(By.ID, "order-status").text == "cancelled"
        b.get(f"{base}/console/orders/{held['id']}")
        b.find_element(By.ID, "release").click()
        shows(b, "Done: release")
        b.get(f"{base}/console/lists")
        assert dead["id"] in text(b)
        b.get(f"{base}/console/orders/{dead['id']}")
        b.find_element(By.CSS_SELECTOR, "button.retry").click()
        shows(b, "Done: retry")

    def forged_post_is_refused() -> None:
        b = browser
        b.get(f"{base}/console/orders/{held['id']}")
        b.execute_script(
            "const f = document.createElement('form'); f.method = 'post';"
            f"f.action = '/console/orders/{held['id']}/refresh'; document.body.appendChild(f);"
            "f.submit();"
        )
        shows(b, "CSRF")

    receiver.status = 200
    await asyncio.to_thread(no_session_then_sign_in)
    await asyncio.to_thread(search_each_kind)
    await asyncio.to_thread(cancel_release_retry)
    await asyncio.to_thread(forged_post_is_refused)
    steps = await read_json(await gateway.get(f"/v1/orders/{held['id']}", headers=auth()))
    assert any(h["source"] == "console" and h["actor"] == "alice" for h in steps["history"])

    logitrail.sandbox.inject(Fault(op="*", status=503, count=None))
    await submit(gateway, order("SHOP-1004"), status=202)

    def open_circuit_then_screenshot() -> None:
        b = browser
        wait_for(b, f"{base}/console/providers", "open")
        cell = b.find_element(By.CSS_SELECTOR, 'tr[data-provider="logitrail"] .f-circuit')
        assert cell.text == "open"
        b.get(f"{base}/console/orders/{shown['id']}")
        assert b.save_screenshot(str(shot))
        b.find_element(By.ID, "sign-out").click()
        until(b, lambda: b.current_url.endswith("/console/sign-in"), "signed out")
        b.get(f"{base}/console/lists")
        assert b.current_url.endswith("/console/sign-in")

    await asyncio.to_thread(open_circuit_then_screenshot)
    assert shot.read_bytes().startswith(b"\x89PNG")
