"""The dashboard in a real browser against the real service: Debian's chromium through
Playwright (never ``playwright install``, which downloads), the service from ``create_app`` on
127.0.0.1.

It checks what a trader relies on: the page loads without a console error and asks nothing of
the internet; a fill of a paper session started through the API shows on the page within a
second or two (the latency is printed, not asserted tightly); the kill-switch button, confirmed
with a reason, halts trading: the session's next order is denied by the risk gate
(``kill_switch``), and a read-scoped key cannot release it. Candles POSTed through the API show
as fresh data, and a backtest job submitted through the API is listed with its report, which
downloads. Screenshots at desktop (1366x900) and phone (390x844) widths go to a
temporary directory, or to ``NEO_DASHBOARD_SCREENSHOTS`` when set. Under ``CI=true`` a missing
chromium or Playwright fails the test (``.ci/run`` installs chromium); elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from neo.settings import load_settings
from tests.optional import in_ci, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = os.environ.get("NEO_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("NEO_DASHBOARD_SCREENSHOTS")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BACKTEST = {"kind": "backtest", "strategy": "sma_cross", "params": ["fast=5", "slow=15"],
            "venue": "sim", "symbols": "BTC/USDT", "timeframe": "1m"}  # fmt: skip
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SESSION = {
    "kind": "paper",
    "strategy": "sma_cross",
    "params": ["fast=2", "slow=4"],
    "feed": "simulated",
    "speed": 20.0,
    "cycles": 100_000,
}


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        _missing("Debian chromium is missing: apt-get install -y chromium (.ci/run does)")
    return str(found)


@dataclass
class Service:
    url: str
    trade_key: str
    read_key: str

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {key or self.trade_key}"}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=10.0)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json()


def _key(scope: str) -> str:
    """A new key through the use case ``neo keys create`` calls (not the CLI runner, whose
    captured stderr the service's logging would keep writing to after it closed)."""
    from neo.app.keys import create_key, open_state

    db = open_state(load_settings())
    try:
        key: str = create_key(db, [scope], f"browser test {scope}")["key"]
    finally:
        db.close()
    return key


@pytest.fixture
def service() -> Iterator[Service]:
    require("fastapi")
    uvicorn = require("uvicorn")
    from neo.service.app import create_app

    trade, read = _key("trade"), _key("read")
    app = create_app(load_settings())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Service(f"http://127.0.0.1:{port}", trade, read)
    finally:
        server.should_exit = True
        thread.join(15)


@dataclass
class Watch:
    """What the page did that it should not: console errors, page errors, foreign requests."""

    errors: list[str]
    foreign: list[str]


def _open(browser: Any, service: Service, viewport: dict[str, int], key: str) -> tuple[Any, Watch]:
    page = browser.new_page(viewport=viewport)
    watch = Watch([], [])
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    local = (service.url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(local) else watch.foreign.append(r.url))
    page.goto(service.url + "/dashboard/", wait_until="load")
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    page.wait_for_selector("#live.live", timeout=10_000)
    return page, watch


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _shot(page: Any, directory: Path, name: str) -> Path:
    path = directory / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# The tables a fill, a job or a risk event adds rows to: none may be wider than its card (a
# phone shows no scrollbar, so it looks cut off); each offender is named with its columns.
CLIPPED_TABLES_JS = """() => [...document.querySelectorAll(
    '#fills, #positions, #orders, #risk-events, #jobs, #freshness')]
  .filter(w => w.scrollWidth > w.clientWidth)
  .map(w => `${w.id} ${w.scrollWidth}>${w.clientWidth}: ` +
    [...w.querySelectorAll('th')].map(t => `${t.innerText} ${t.offsetWidth}`).join(', '))"""


def _clipped_tables(page: Any) -> list[str]:
    found: list[str] = page.evaluate(CLIPPED_TABLES_JS)
    return found


MINUTE_MS = 60_000


def _post_candles(service: Service, n: int = 300) -> None:
    """``n`` one-minute candles of BTC/USDT on venue sim, the newest one minute old."""
    end = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS - MINUTE_MS
    price, candles = 100.0, []
    for i in range(n):
        close = price * (1 + 0.004 * ((-1) ** (i // 7)))
        candles.append(
            {"timestamp": end - (n - 1 - i) * MINUTE_MS, "open": price, "close": close,
             "high": max(price, close) + 0.1, "low": min(price, close) - 0.1, "volume": 5.0}
        )  # fmt: skip
        price = close
    body = {"venue": "sim", "symbol": "BTC/USDT", "timeframe": "1m", "candles": candles}
    answer = service.call("POST", "/v1/candles", body)
    assert answer["accepted"] == n, answer


def _fills(service: Service, session: str) -> list[Any]:
    rows: list[Any] = service.call("GET", f"/v1/sessions/{session}/fills")["fills"]
    return rows


def _denials(service: Service, session: str) -> list[Any]:
    rows = service.call("GET", f"/v1/sessions/{session}/risk-events")["risk_events"]
    return [row for row in rows if row.get("code") == "kill_switch"]


def test_the_dashboard_shows_live_fills_and_its_kill_switch_halts_trading(
    service: Service, tmp_path: Path
) -> None:
    require("httpx")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing: pip install -e '.[dev]'")
    executable = _chromium()
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            _post_candles(service)
            page, watch = _open(browser, service, DESKTOP, service.trade_key)
            assert page.inner_text("#fills").strip() in ("no session", "nothing yet")
            freshness = page.inner_text("#freshness")
            assert "BTC/USDT" in freshness and "fresh" in freshness

            # a backtest job submitted through the API: listed, and its report downloads
            job = service.call("POST", "/v1/jobs", BACKTEST)["id"]
            report = page.locator("#jobs button:has-text('report')")
            report.wait_for(timeout=30_000)
            with page.expect_download() as download:
                report.click()
            saved = tmp_path / "report.html"
            download.value.save_as(saved)
            assert saved.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
            assert job in page.inner_text("#jobs")

            # a fill the test causes through the API appears within a second or two
            session = service.call("POST", "/v1/sessions", SESSION)["id"]
            fills = _wait(lambda: _fills(service, session), 30, "the session's first fill")
            seen_at = time.monotonic()
            page.wait_for_function(
                "n => Number(document.getElementById('fills').dataset.count || 0) >= n",
                arg=len(fills),
                timeout=5_000,
            )
            latency = time.monotonic() - seen_at
            print(f"fill on the page {latency * 1000:.0f} ms after the API had it")
            first = fills[0]
            assert first["instrument"].split("@")[0] in page.inner_text("#fills")
            assert page.inner_text("#session").count(session) == 1
            page.wait_for_function("() => document.querySelectorAll('#positions td').length > 0")
            _shot(page, shots, "desktop")

            # the kill switch: confirm with a reason, the page shows the halt, the next order
            # the session sends is denied by the risk gate
            page.click("#engage")
            page.fill("#confirm-reason", "browser test drill")
            page.click("#confirm-ok")
            page.wait_for_selector("#killswitch.engaged", timeout=5_000)
            status = service.call("GET", "/v1/accounts/paper/killswitch", key=service.read_key)
            assert status["engaged"] and "browser test drill" in status["reason"]
            denied = _wait(lambda: _denials(service, session), 30, "an order denied by the halt")
            assert denied[0]["code"] == "kill_switch"
            page.wait_for_function(
                "() => document.getElementById('risk-events').innerText.includes('kill_switch')",
                timeout=5_000,
            )
            assert page.is_enabled("#reset") and not page.is_enabled("#engage")
            assert _clipped_tables(page) == [], "tables cut off on a desktop"
            _shot(page, shots, "desktop-halted")

            phone, phone_watch = _open(browser, service, PHONE, service.read_key)
            phone.wait_for_selector("#killswitch.engaged", timeout=5_000)
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the page is {width} px wide on a phone"
            # a phone shows no scrollbar: a table wider than its card looks cut off
            assert _clipped_tables(phone) == [], "tables cut off on a phone"
            _shot(phone, shots, "phone")

            # a read-scoped key watches but cannot release the halt: the API's 403 is shown
            phone.click("#reset")
            phone.fill("#confirm-reason", "not allowed")
            phone.click("#confirm-ok")
            phone.wait_for_selector("#notice.error", timeout=5_000)
            assert "lacks the" in phone.inner_text("#notice")
            phone.wait_for_selector("#killswitch.engaged")
            refused = phone_watch.errors[:]
            phone_watch.errors.clear()  # the browser logs the refused request itself: expected
            assert len(refused) == 1 and "403" in refused[0], refused
            service.call("POST", f"/v1/sessions/{session}/stop")
        finally:
            browser.close()
    assert watch.errors == [] and phone_watch.errors == []
    assert watch.foreign == [] and phone_watch.foreign == []
    print(f"screenshots in {shots}")
