"""`neo backtest --allocator min_variance --risk risk.toml` on several symbols, through the CLI.

Every configured limit is checked on the printed trade list plus the lots still open at the end:
at every bar where a position grew, the positions held then (round trips open at that bar and
open lots), valued at the close the risk gate saw when it approved the orders (the bar before
the fill), stay within max notional and max % of equity per instrument, and max gross exposure
and max leverage over all. Equity at that close is rebuilt from the trades (fee- and
slippage-free run: equity = cash + realised PnL + open lots' unrealised PnL). The report must
list every risk event (one table row each) and show held weights beside the targets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from neo.data.feeds import simulate_bars
from neo.data.feeds.files import write_bars

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"]
CASH = 100_000.0
MAX_NOTIONAL = 40_000.0
MAX_PCT = 0.3
MAX_GROSS = 95_000.0
MAX_LEVERAGE = 0.9
RISK_TOML = f"""
on_breach = "flatten"

[limits]
max_position_notional = {MAX_NOTIONAL}
max_position_pct = {MAX_PCT}
max_gross_exposure = {MAX_GROSS}
max_leverage = {MAX_LEVERAGE}
max_open_orders = 8
price_band_pct = 0.05
max_drawdown_pct = 0.25
price_buffer_pct = 0.002
"""
TOL = 1e-6

runner = CliRunner()


def _invoke(args: list[str]) -> str:
    from neo.cli.main import app

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _lots(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Every lot of the run: closed round trips and the lots still open (exit = never)."""
    never = np.iinfo(np.int64).max
    return out["trades"] + [
        {**lot, "exit_ts_ns": never, "pnl": 0.0, "exit_price": 0.0} for lot in out["open_positions"]
    ]


def test_allocator_and_risk_limits_hold_at_every_bar(tmp_path: Path) -> None:
    bars = simulate_bars(SYMBOLS, "1h", 800, seed=11)
    data = tmp_path / "walk.parquet"
    write_bars(list(bars.values()), data)
    base = ["--data-dir", str(tmp_path / "data")]
    for symbol in SYMBOLS:
        _invoke([*base, "ingest", str(data), "--venue", "sim", "--symbol", symbol,
                 "--timeframe", "1h"])  # fmt: skip
    risk = tmp_path / "risk.toml"
    risk.write_text(RISK_TOML)
    report = tmp_path / "report.html"
    args = [*base, "backtest", "--strategy", "sma_cross", "--symbols", ",".join(SYMBOLS)]
    args += ["--timeframe", "1h", "--allocator", "min_variance", "--risk", str(risk)]
    args += ["--fees-bps", "0", "--slippage-bps", "0", "--cash", str(CASH)]
    out = json.loads(_invoke([*args, "--report", str(report), "--json"]))
    assert out["allocator"] == "min_variance" and out["rebalances"] > 5
    assert out["trades"] and out["open_positions"], "trades closed and lots left open"
    denials = out["risk_denials"]
    assert sum(denials.values()) > 0, "limits this tight must bind at least once"
    denied_rows = [row for row in out["risk_events"] if row["event"] == "RiskDenied"]
    assert len(denied_rows) == sum(denials.values())
    assert "kill_switch_engaged" not in denials

    stamps = np.asarray(next(iter(bars.values())).ts)
    closes = {str(iid): np.asarray(b.close) for iid, b in bars.items()}
    lots = _lots(out)
    _check_limits(lots, stamps, closes)
    _check_report(report.read_text(), out, lots, stamps, closes)


def _book_at(
    lots: list[dict[str, Any]], stamps: np.ndarray, closes: dict[str, np.ndarray], k: int
) -> tuple[float, dict[str, float]]:
    """Equity and positions at the close of bar ``k`` (fee- and slippage-free run)."""
    equity, held = CASH, {}
    for lot in lots:
        key = lot["instrument"]
        if lot["exit_ts_ns"] <= stamps[k]:
            equity += lot["pnl"]
        elif lot["entry_ts_ns"] <= stamps[k]:
            equity += lot["quantity"] * (closes[key][k] - lot["entry_price"])
            held[key] = held.get(key, 0.0) + lot["quantity"]
    return equity, held


def _check_limits(
    lots: list[dict[str, Any]], stamps: np.ndarray, closes: dict[str, np.ndarray]
) -> None:
    checked = 0
    for k in sorted({int(np.searchsorted(stamps, lot["entry_ts_ns"])) for lot in lots}):
        decided = k - 1  # filled at bar k's open, approved at bar k-1's close
        equity, _ = _book_at(lots, stamps, closes, decided)
        _, held = _book_at(lots, stamps, closes, k)  # after bar k's fills
        grown = {lot["instrument"] for lot in lots if lot["entry_ts_ns"] == stamps[k]}
        value = {key: abs(q) * closes[key][decided] for key, q in held.items()}
        for key in grown:
            assert value[key] <= MAX_NOTIONAL + TOL, (key, k)
            assert value[key] <= MAX_PCT * equity + TOL, (key, k)
        gross = sum(value.values())
        assert gross <= MAX_GROSS + TOL, k
        assert gross <= MAX_LEVERAGE * equity + TOL, k
        checked += 1
    assert checked > 10


def _check_report(
    html: str,
    out: dict[str, Any],
    lots: list[dict[str, Any]],
    stamps: np.ndarray,
    closes: dict[str, np.ndarray],
) -> None:
    body = re.search(r'<table id="risk-events">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None
    assert body.group(1).count("<tr>") == len(out["risk_events"])  # one row per event
    assert all(row["order_id"] in body.group(1) for row in out["risk_events"] if "order_id" in row)
    (figure,) = [f for f in _figures(html) if f["layout"]["title"]["text"].startswith("Positions")]
    title = figure["layout"]["title"]["text"]
    assert title == "Positions (% of equity, signed): held (solid) and allocator targets (dotted)"
    traces = {t["name"].replace("\\u002f", "/"): _values(t["y"]) for t in figure["data"]}
    assert len(_values(figure["data"][0]["x"])) == len(stamps)  # every bar, not thinned
    # held weights: position × close / equity at every bar, rebuilt from the trade list
    books = [_book_at(lots, stamps, closes, k) for k in range(len(stamps))]
    for key in (f"{s}@sim" for s in SYMBOLS):
        expected = [held.get(key, 0.0) * closes[key][k] / eq for k, (eq, held) in enumerate(books)]
        np.testing.assert_allclose(traces[key], expected, atol=1e-9)
    # targets: the allocator's weights, constant between rebalances, adding up to the budget
    targets = np.column_stack([traces[f"{s}@sim target"] for s in SYMBOLS])
    changes = int((np.abs(np.diff(targets, axis=0)).sum(axis=1) > 0).sum())
    assert 5 < changes <= out["rebalances"]
    invested = targets.sum(axis=1)
    assert np.allclose(invested[invested > 0], 0.95, atol=1e-6)


def _figures(text: str) -> list[dict[str, Any]]:
    from tests.unit.analytics.test_report import _figures as decode

    return decode(text)


def _values(column: Any) -> np.ndarray:
    """A trace column as numbers: a JSON list or plotly's base64 typed array."""
    if isinstance(column, dict):
        import base64

        return np.frombuffer(base64.b64decode(column["bdata"]), dtype=np.dtype(column["dtype"]))
    return np.asarray(column, dtype=np.float64)
