"""`neo backtest --allocator min_variance --risk risk.toml` on several symbols, through the CLI.

Limits are checked on the printed trade list: at every trade entry, the open lots of each
instrument (and of all together), valued at the close the risk gate saw when it approved the
order (the bar before the fill), stay within the configured notional and gross limits. The
report must show weights over time and every risk event.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from neo.data.feeds import simulate_bars
from neo.data.feeds.files import write_bars

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"]
MAX_NOTIONAL = 40_000.0
MAX_GROSS = 95_000.0
BUFFER = 0.002
RISK_TOML = f"""
on_breach = "flatten"

[limits]
max_position_notional = {MAX_NOTIONAL}
max_position_pct = 0.35
max_gross_exposure = {MAX_GROSS}
max_leverage = 1.0
max_open_orders = 8
price_band_pct = 0.05
max_drawdown_pct = 0.25
price_buffer_pct = {BUFFER}
"""

runner = CliRunner()


def _invoke(args: list[str]) -> str:
    from neo.cli.main import app

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_allocator_and_risk_limits_hold_on_the_trade_list(tmp_path: Path) -> None:
    bars = simulate_bars(SYMBOLS, "1h", 800, seed=11)
    data = tmp_path / "walk.parquet"
    write_bars(list(bars.values()), data)
    for symbol in SYMBOLS:
        _invoke(["ingest", str(data), "--venue", "sim", "--symbol", symbol, "--timeframe", "1h"])
    risk = tmp_path / "risk.toml"
    risk.write_text(RISK_TOML)
    report = tmp_path / "report.html"
    args = ["backtest", "--strategy", "sma_cross", "--symbols", ",".join(SYMBOLS)]
    args += ["--timeframe", "1h", "--allocator", "min_variance", "--risk", str(risk)]
    out = json.loads(_invoke([*args, "--report", str(report), "--json"]))
    assert out["allocator"] == "min_variance" and out["rebalances"] > 5
    assert out["trades"], "the allocated portfolio should trade"
    denials = out["risk_denials"]
    assert sum(denials.values()) > 0, "limits this tight must bind at least once"
    assert all(row["event"] == "RiskDenied" for row in out["risk_events"])
    assert len(out["risk_events"]) == sum(denials.values())

    closes = {str(iid): (np.asarray(b.ts), np.asarray(b.close)) for iid, b in bars.items()}

    def gate_price(instrument: str, ts: int) -> float:
        stamps, close = closes[instrument]
        return float(close[int(np.searchsorted(stamps, ts, "left")) - 1])

    trades = out["trades"]
    for moment in sorted({t["entry_ts"] for t in trades}):
        open_lots: dict[str, float] = defaultdict(float)
        for t in trades:
            if t["entry_ts"] <= moment < t["exit_ts"] or t["entry_ts"] == moment:
                open_lots[t["instrument"]] += t["quantity"]
        gross = 0.0
        for instrument, quantity in open_lots.items():
            notional = abs(quantity) * gate_price(instrument, moment)
            assert notional <= MAX_NOTIONAL * (1 + BUFFER) + 1e-6, (instrument, moment)
            gross += notional
        assert gross <= MAX_GROSS * (1 + BUFFER) + 1e-6, moment

    html = report.read_text()
    assert "Weights" in html or "weights" in html
    for symbol in SYMBOLS:
        assert f"{symbol}@sim" in html
    assert "RiskDenied" in html and "max_position_notional" in html
