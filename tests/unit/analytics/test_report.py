from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from neo.analytics import compute_metrics, render_report, risk_event_row, write_report
from neo.analytics.html import format_metric, format_time
from neo.domain import (
    ConfigError,
    DataFormatError,
    InstrumentId,
    KillSwitchEngaged,
    Order,
    OrderId,
    RiskDenied,
    Side,
    Trade,
)

MINUTE = 60 * 1_000_000_000
BTC = InstrumentId("binance", "BTC/USDT")
ETH = InstrumentId("binance", "ETH/USDT")
EVIL = "<script>alert(1)</script>"


def _figures(text: str) -> list[dict[str, Any]]:
    """Every ``Plotly.newPlot(id, data, layout, …)`` call in the page, decoded."""
    decoder = json.JSONDecoder()

    def after_comma(at: int) -> int:
        return at + len(text[at:]) - len(text[at:].lstrip().removeprefix(",").lstrip())

    figures = []
    for match in re.finditer(r"Plotly\.newPlot\(\s*", text):
        _, at = decoder.raw_decode(text, match.end())  # the div id
        data, at = decoder.raw_decode(text, after_comma(at))
        layout, _ = decoder.raw_decode(text, after_comma(at))
        figures.append({"data": data, "layout": layout})
    return figures


def _length(column: Any) -> int:
    """Points in a trace column: a JSON list or plotly's base64 typed array."""
    if isinstance(column, dict):
        return len(base64.b64decode(column["bdata"])) // np.dtype(column["dtype"]).itemsize
    return len(column)


def _names(text: str) -> list[str]:
    return [trace.get("name", "") for figure in _figures(text) for trace in figure["data"]]


def _inputs(n: int = 200, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ts = np.arange(n, dtype=np.int64) * MINUTE + 1_700_000_000 * 1_000_000_000
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.001, n))
    btc = 30_000 * np.cumprod(1 + rng.normal(0, 0.001, n))
    eth = 2_000 * np.cumprod(1 + rng.normal(0, 0.001, n))
    trades = [
        Trade(instrument=BTC, quantity=0.5, entry_ts=int(ts[10]), exit_ts=int(ts[40]),
              entry_price=float(btc[10]), exit_price=float(btc[40]), fees=1.0),
        Trade(instrument=ETH, quantity=-3.0, entry_ts=int(ts[50]), exit_ts=int(ts[90]),
              entry_price=float(eth[50]), exit_price=float(eth[90])),
    ]  # fmt: skip
    position = np.zeros(n)
    position[10:40] = 0.5 * btc[10:40] / equity[10:40]  # share of equity held
    return {
        "ts": ts,
        "equity": equity,
        "metrics": compute_metrics(ts, equity, trades=trades),
        "prices": {"BTC/USDT@binance": (ts, btc), "ETH/USDT": (ts, eth)},
        "positions": {
            "BTC/USDT@binance": position,
            "ETH/USDT": -3.0 * eth / equity * (ts >= ts[50]),
        },
        "trades": trades,
        "weights": {"BTC/USDT": np.full(n, 0.6), "ETH/USDT": np.full(n, 0.4)},
        "risk_events": [
            {"ts": int(ts[60]), "kind": "RiskDenied", "reason": EVIL},
            {"kind": "KillSwitchEngaged", "reason": "drawdown limit 10 % hit"},
        ],
    }


def test_report_is_one_self_contained_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.html"
    written = write_report(target, title="Crossover <BTC> & co", **_inputs())
    assert written == target and target.is_file()
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc=", text), "plotly.js must be inlined, not linked"
    assert text.count("* plotly.js v") == 1  # inlined once, shared by every figure
    assert text.count("Plotly.newPlot(") == 5  # equity, drawdown, positions+weights, 2 prices
    assert "Crossover &lt;BTC&gt; &amp; co" in text
    assert "Crossover <BTC>" not in text
    assert list(tmp_path.joinpath("deep", "er").iterdir()) == [target]  # no temp file left


def test_metrics_table_shows_every_metric() -> None:
    inputs = _inputs()
    text = render_report(title="t", **inputs)
    table = text[text.index('id="metrics"') :].split("</table>")[0]
    for name in ("total return", "sharpe", "max drawdown", "profit factor", "trade count"):
        assert f"<th>{name}</th>" in table
    total = inputs["equity"][-1] / inputs["equity"][0] - 1
    assert f"{total * 100:.2f} %" in table


def test_trades_are_marked_over_their_price() -> None:
    text = render_report(title="t", **_inputs())
    markers = {
        (figure["layout"]["title"]["text"], trace["name"]): trace
        for figure in _figures(text)
        for trace in figure["data"]
        if trace["name"].startswith("trade ")
    }
    assert set(markers) == {
        (f"{key}: price, indicators and trades", f"trade {leg}")
        for key in ("BTC/USDT@binance", "ETH/USDT")
        for leg in ("entries", "exits")
    }
    btc_entry = markers[("BTC/USDT@binance: price, indicators and trades", "trade entries")]
    assert btc_entry["y"] == [pytest.approx(_inputs()["trades"][0].entry_price)]
    assert btc_entry["marker"]["symbol"] == ["triangle-up"]  # a long entry is a buy
    eth_exit = markers[("ETH/USDT: price, indicators and trades", "trade exits")]
    assert eth_exit["marker"]["symbol"] == ["triangle-up"]  # a short exit is a buy too
    assert eth_exit["hovertext"][0].startswith("exit -3 @")
    assert 'id="trades"' in text


def test_risk_events_are_listed_escaped_and_marked() -> None:
    text = render_report(title="t", **_inputs())
    table = text[text.index('id="risk-events"') :].split("</table>")[0]
    assert "RiskDenied" in table and "KillSwitchEngaged" in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert EVIL not in text
    assert "Risk events (2)" in text
    (marker,) = [t for t in _figures(text)[0]["data"] if t["name"] == "risk events"]
    assert _length(marker["x"]) == 1  # only the event with a ts can be placed in time
    assert "&lt;script&gt;" in marker["hovertext"][0]
    assert format_time(_inputs()["ts"][60]) in table


def test_weights_traces_only_when_given() -> None:
    inputs = _inputs()
    inputs["positions"] = {}
    with_weights = render_report(title="t", **inputs)
    (weights,) = [f for f in _figures(with_weights) if f["layout"]["title"]["text"].startswith(
        "Positions")]  # fmt: skip
    assert [t["name"] for t in weights["data"]] == ["BTC/USDT", "ETH/USDT"]
    assert all(_length(t["y"]) == 200 for t in weights["data"])
    inputs.update(weights=None, risk_events=(), trades=[], positions={})
    bare = render_report(title="t", **inputs)
    titles = [f["layout"]["title"]["text"] for f in _figures(bare)]
    assert titles == [
        "Equity", "Drawdown", "BTC/USDT@binance: price, indicators and trades",
        "ETH/USDT: price, indicators and trades",
    ]  # fmt: skip
    assert 'id="risk-events"' not in bare and 'id="trades"' not in bare


def test_large_runs_are_downsampled_to_a_bounded_size() -> None:
    small = render_report(title="t", **_inputs(n=6_000))
    large = render_report(title="t", **_inputs(n=300_000))
    assert len(large) < 10_000_000
    # 50x the bars, nearly the same bytes: every trace is capped, not the whole series.
    assert len(large) - len(small) < 400_000
    for figure in _figures(large):
        for trace in figure["data"]:
            assert _length(trace["x"]) <= 10_000, trace["name"]


def test_mismatched_series_are_clear_errors(tmp_path: Path) -> None:
    inputs = _inputs()
    inputs["positions"] = {"BTC/USDT": np.zeros(5)}
    with pytest.raises(DataFormatError, match="one value per bar"):
        write_report(tmp_path / "r.html", title="t", **inputs)
    inputs = _inputs()
    inputs["equity"] = inputs["equity"][:-1]
    with pytest.raises(DataFormatError, match="equity"):
        render_report(title="t", **inputs)
    assert not (tmp_path / "r.html").exists()


def test_existing_report_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")
    write_report(target, title="new one", **_inputs())
    assert "new one" in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_unwritable_target_is_a_config_error_and_leaves_no_temp(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a directory where the file should go
    with pytest.raises(ConfigError, match="cannot write report"):
        write_report(tmp_path / "taken", title="t", **_inputs())
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="choose a writable path"):
        write_report(blocker / "r.html", title="t", **_inputs())


def test_report_of_a_degenerate_run() -> None:
    ts = np.array([0], dtype=np.int64)
    equity = np.array([100.0])
    text = render_report(
        title="one bar", ts=ts, equity=equity, metrics=compute_metrics(ts, equity),
        prices={}, positions={}, trades=[],
    )  # fmt: skip
    assert "n/a" in text and "one bar" in text


def test_metric_formatting() -> None:
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1_500_000) == "1970-01-01T00:00:00.001500Z"
    assert format_metric("sharpe", float("nan")) == "n/a"
    assert format_metric("total_return", 0.1234) == "12.34 %"
    assert format_metric("trade_count", 12345) == "12,345"
    assert format_metric("max_drawdown_duration_ns", 90 * MINUTE) == "1 h 30 min"
    assert format_metric("final_equity", 123456.789) == "123,456.79"
    assert format_metric("sharpe", 1.23456) == "1.235"
    assert format_metric("average_trade_duration_ns", float("inf")) == "n/a"


def test_many_trades_are_thinned_evenly_but_all_counted() -> None:
    inputs = _inputs(n=3_000)
    ts, btc = inputs["prices"]["BTC/USDT@binance"]
    trades = [
        Trade(instrument=BTC, quantity=1.0, entry_ts=int(ts[i]), exit_ts=int(ts[i + 1]),
              entry_price=float(btc[i]), exit_price=float(btc[i + 1]))
        for i in range(2_500)
    ]  # fmt: skip
    inputs["trades"] = trades
    text = render_report(title="t", **inputs)
    (entries,) = [t for f in _figures(text) for t in f["data"] if t["name"] == "trade entries"]
    assert _length(entries["x"]) == 2_000  # report.MAX_TRADE_MARKERS
    assert entries["y"][0] == pytest.approx(btc[0]) and entries["y"][-1] == pytest.approx(
        btc[2_499]
    )
    assert "Trades (2,500)" in text and "First 1,000 of 2,500 trades." in text


def test_risk_event_rows_flatten_domain_events() -> None:
    order = Order(id=OrderId("o-1"), instrument=BTC, side=Side.BUY, quantity=2.0)
    denied = risk_event_row(RiskDenied(ts=5, order=order, code="max_position", reason="too big"))
    assert denied == {
        "ts": 5, "event": "RiskDenied", "order_id": "o-1", "instrument": "BTC/USDT@binance",
        "side": "buy", "quantity": 2.0, "code": "max_position", "reason": "too big",
    }  # fmt: skip
    engaged = risk_event_row(KillSwitchEngaged(ts=7, reason="daily loss"))
    assert engaged == {"ts": 7, "event": "KillSwitchEngaged", "reason": "daily loss"}
    inputs = _inputs()
    inputs["risk_events"] = [denied, engaged, {"ts": 9, "cooldown_duration_ns": 90 * MINUTE}]
    table = render_report(title="t", **inputs).split('id="risk-events"')[1].split("</table>")[0]
    assert "<th>order_id</th>" in table and "<td>max_position</td>" in table
    assert "<td>1970-01-01T00:00:00Z</td>" in table  # ts in ns shown as UTC time
    assert "<td>1 h 30 min</td>" in table  # durations in ns shown as durations


def test_every_risk_and_portfolio_event_becomes_a_row_and_others_are_apart() -> None:
    from neo.analytics.report import engine_event_rows, risk_event_rows
    from neo.domain import OrderRejected, StrategyFailed
    from neo.domain.fill import Fill
    from neo.domain.ids import TradeId
    from neo.portfolio.constructor import PortfolioEvent
    from neo.risk import PreTradeRiskGate, RiskConfig, RiskLimits
    from tests.unit.risk.fakes import FakeAccount

    gate = PreTradeRiskGate(RiskConfig(limits=RiskLimits(max_position_notional=100.0)))
    account = FakeAccount()
    account.positions[BTC] = 2.0
    gate.on_fill(
        Fill(order_id=OrderId("o-9"), trade_id=TradeId("t"), instrument=BTC, side=Side.BUY,
             quantity=2.0, price=60.0, fee=0.0, ts=3),
        account,
    )  # fmt: skip
    gate.kill_switch.engage("manual")
    gate._engage("drawdown", 4)  # already engaged: no second event
    gate.reset(by="ops", ts=6)
    gate._engage("daily loss", 8)
    order = Order(id=OrderId("o-1"), instrument=BTC, side=Side.BUY, quantity=2.0)
    events = [
        RiskDenied(ts=5, order=order, code="max_position_notional", reason="too big"),
        StrategyFailed(ts=2, strategy="s", error="ZeroDivisionError"),
        OrderRejected(ts=7, order=order, reason="unknown instrument"),
    ]

    book = SimpleNamespace(
        events=[PortfolioEvent(ts=1, kind="allocation_failed", code="kelly", reason="x")]
    )
    rows = risk_event_rows(events, gate, book)
    assert [(r["ts"], r["event"]) for r in rows] == [
        (1, "AllocationFailed"),
        (3, "LimitExceededAfterFill"),
        (5, "RiskDenied"),
        (6, "KillSwitchReset"),
        (8, "KillSwitchEngaged"),
    ]
    others = engine_event_rows(events)
    assert [r["event"] for r in others] == ["StrategyFailed", "OrderRejected"]
    assert gate.engagements == 1 and "kill_switch_engaged" not in gate.counters
    inputs = _inputs()
    inputs["risk_events"] = rows
    text = render_report(title="t", engine_events=others, **inputs)
    risk_table = text.split('id="risk-events"')[1].split("</table>")[0]
    assert risk_table.count("<tr>") == len(rows) + 1  # header + one row per event
    assert "StrategyFailed" not in risk_table and "OrderRejected" not in risk_table
    other_table = text.split('id="engine-events"')[1].split("</table>")[0]
    assert "StrategyFailed" in other_table and "OrderRejected" in other_table
    assert "Strategy failures and broker rejections (2)" in text


def test_held_weights_are_positions_times_price_over_equity() -> None:
    from neo.analytics.report import held_weights

    equity = np.array([100.0, 110.0, 0.0, 120.0])
    positions = {"A": np.array([0.0, 1.0, 1.0, 2.0]), "B": np.array([1.0, 1.0, 1.0, -1.0])}
    prices = {"A": np.array([10.0, 11.0, 12.0, 13.0]), "B": np.array([np.nan, 20.0, 20.0, 30.0])}
    held = held_weights(equity, positions, prices, {"B": 2.0})
    np.testing.assert_allclose(held["A"], [0.0, 0.1, 0.0, 26 / 120])
    np.testing.assert_allclose(held["B"], [0.0, 40 / 110, 0.0, -60 / 120])
    inputs = _inputs()
    n = len(inputs["ts"])
    text = render_report(title="t", **{**inputs, "positions": {"BTC/USDT": np.linspace(0, 0.5, n)}})
    (figure,) = [f for f in _figures(text) if f["layout"]["title"]["text"].startswith("Positions")]
    names = [t["name"] for t in figure["data"]]
    assert names == ["BTC/USDT", "BTC/USDT target", "ETH/USDT target"]
    assert figure["data"][1]["line"]["dash"] == "dot"


def test_readable_at_any_scale() -> None:
    """Small drawdowns keep distinct ticks, positions read as % of equity, no "-0", risk
    events sit in their own strip under the equity line, durations are rounded."""
    from neo.analytics.html import format_duration, table
    from neo.analytics.report import percent_decimals

    inputs = _inputs()
    n = len(inputs["ts"])
    inputs["equity"] = 10_000 * (1 - 0.0008 * np.sin(np.linspace(0, 6, n)) ** 2)  # -0.08 %
    figures = {
        f["layout"]["title"]["text"]: f for f in _figures(render_report(title="t", **inputs))
    }
    drawdown_ticks = figures["Drawdown"]["layout"]["yaxis"]["tickformat"]
    assert drawdown_ticks == ".3%"  # -0.080 %, not "0.0 %, 0.0 %, -0.1 %"
    assert [percent_decimals(x) for x in (-0.3, -0.05, -0.008, -0.0008)] == [0, 1, 2, 3]
    (positions,) = [f for t, f in figures.items() if t.startswith("Positions (% of equity")]
    assert positions["layout"]["yaxis"]["tickformat"].endswith("%")
    (risk,) = [t for t in figures["Equity"]["data"] if t["name"] == "risk events"]
    assert risk["yaxis"] == "y2"  # a strip of its own, not over the curve
    assert (
        figures["Equity"]["layout"]["yaxis2"]["domain"][1]
        < (figures["Equity"]["layout"]["yaxis"]["domain"][0])
    )
    assert format_metric("total_return", -1e-9) == "0.00 %"
    assert format_metric("sharpe", -0.0) == "0"
    assert "<td>0</td>" in table([{"pnl": -0.0}], table_id="x")
    assert "<td>1.20 %</td>" in table([{"return": 0.012}], table_id="x")
    assert format_duration(31 * 86_400e9 + 14 * 3_600e9 + 11 * 60e9 + 36.774194e9) == "31 d 14 h"
    assert format_duration(3_599.9e9) == "1 h"


def test_notes_are_shown_escaped() -> None:
    text = render_report(title="t", notes=["FB lacked history", EVIL], **_inputs())
    notes = text.split('id="notes">')[1].split("</ul>")[0]
    assert "<li>FB lacked history</li>" in notes and EVIL not in text
