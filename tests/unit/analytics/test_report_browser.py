"""Open real reports in a real browser (Debian's headless Chromium through Playwright).

The HTML tests read the page's JSON; this one checks what a reader sees: every chart was drawn
by plotly.js with data in it, the page logged no error, and it asked the network for nothing
(plotly.js is inlined). Under CI (``CI=true``) a missing Chromium fails the test: ``.ci/run``
installs it; elsewhere it is skipped with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from neo.analytics import compute_metrics, render_report
from neo.analytics.benchmark import buy_and_hold
from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from neo.settings import load_settings
from tests.unit.engine.bars import walk

CHROMIUM = os.environ.get("NEO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MINUTE = 60 * 10**9

# For each plotly div: its title, whether it was drawn, and the points plotly.js computed for
# each trace (``calcdata``: after decoding the base64 typed arrays, NaNs included).
_CHART_DATA = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
    title: (div.layout && div.layout.title && div.layout.title.text) || '',
    drawn: div.querySelectorAll('.main-svg .scatterlayer .trace').length > 0,
    points: (div.calcdata || []).map(cd => cd.filter(p => Number.isFinite(p.y)).length),
}))"""


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _browser() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        _missing("the playwright package is missing: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        _missing("Debian chromium is missing: apt-get install -y chromium (.ci/run does)")
    return sync_api


def _open(path: Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(charts, console errors and page errors, URLs the page tried to fetch)."""
    sync_api = _browser()
    errors: list[str] = []
    requests: list[str] = []
    executable = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: None if r.url.startswith(("file:", "data:")) else requests.append(r.url),
            )
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                "() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0"
            )
            charts: list[dict[str, Any]] = page.evaluate(_CHART_DATA)
        finally:
            browser.close()
    return charts, errors, requests


def _assert_all_drawn(charts: list[dict[str, Any]]) -> None:
    assert charts, "the report has no chart"
    for chart in charts:
        assert chart["drawn"], f"{chart['title']!r} was not drawn"
        assert chart["points"] and all(n > 0 for n in chart["points"]), chart


@pytest.fixture
def stored() -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(walk(400, seed=5, symbol="BTC/USDT"))
    store.write(walk(400, seed=6, symbol="ETH/USDT"))
    store.close()


@pytest.mark.usefixtures("stored")
def test_a_backtest_report_opens_in_chromium_with_every_chart_drawn(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["backtest", "--symbols", "BTC/USDT,ETH/USDT", "--param", "fast=5", "--param",
         "slow=15", "--param", "size=1", "--report", str(report), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    charts, errors, requests = _open(report)
    assert errors == [] and requests == []
    _assert_all_drawn(charts)
    titles = [c["title"] for c in charts]
    assert titles[:3] == ["Equity", "Drawdown", "Positions (% of equity, signed)"]
    equity, _, _, btc, _ = charts
    assert equity["points"][0] == equity["points"][1] > 100  # benchmark beside equity
    assert len(btc["points"]) == 5  # price, SMA 5, SMA 15, entries, exits


def test_risk_events_and_small_drawdowns_render_in_chromium(tmp_path: Path) -> None:
    n = 300
    ts = np.arange(n, dtype=np.int64) * MINUTE + 1_700_000_000 * 10**9
    rng = np.random.default_rng(3)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.00005, n))  # drawdowns well under 1 %
    close = 100 * np.cumprod(1 + rng.normal(0, 0.001, n))
    events = [{"ts": int(ts[k]), "event": "RiskDenied", "reason": "max order"} for k in (5, 6, 90)]
    page = render_report(
        title="small",
        ts=ts,
        equity=equity,
        metrics=compute_metrics(ts, equity),
        prices={"X": (ts, close)},
        positions={"X": np.full(n, 0.25)},
        trades=[],
        risk_events=events,
        benchmark=buy_and_hold(10_000, {"X": close}),
        indicators={"X": {"mean": np.convolve(close, np.ones(5) / 5, "same")}},
    )
    path = tmp_path / "small.html"
    path.write_text(page, encoding="utf-8")
    charts, errors, requests = _open(path)
    assert errors == [] and requests == []
    _assert_all_drawn(charts)
    assert charts[0]["points"][-1] == 3  # the risk-event ticks
