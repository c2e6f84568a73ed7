"""How fast are the metrics and the report on a long run, and how big is the report?

    .venv/bin/python bench/bench_analytics.py [--bars 1000000] [--trades 10000] [--repeat 5]

Synthetic, seeded data: a 1-minute equity curve, one price series, a 0/1 position, weights for
two assets, evenly spaced round trips and a few risk events. For scale, the same return-based
figures are also timed with empyrical (which computes each metric separately).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neo.analytics import compute_metrics, write_report
from neo.domain import InstrumentId, Trade

MINUTE = 60 * 1_000_000_000
BTC = InstrumentId("binance", "BTC/USDT")


def _median_seconds(work: Callable[[], Any], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _data(bars: int, trade_count: int) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    ts = np.arange(bars, dtype=np.int64) * MINUTE + 1_700_000_000 * 1_000_000_000
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 2e-4, bars))
    price = 30_000 * np.cumprod(1 + rng.normal(0, 3e-4, bars))
    position = (rng.random(bars) > 0.5).astype(np.float64)
    step = max((bars - 2) // max(trade_count, 1), 2)
    trades = [
        Trade(instrument=BTC, quantity=0.1, entry_ts=int(ts[i]), exit_ts=int(ts[i + step // 2]),
              entry_price=float(price[i]), exit_price=float(price[i + step // 2]), fees=0.5)
        for i in range(0, bars - step, step)
    ][:trade_count]  # fmt: skip
    return {
        "ts": ts,
        "equity": equity,
        "price": price,
        "position": position,
        "trades": trades,
        "events": [{"ts": int(ts[i]), "event": "RiskDenied"} for i in range(0, bars, bars // 20)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    data = _data(args.bars, args.trades)
    ts, equity = data["ts"], data["equity"]

    def metrics() -> Any:
        return compute_metrics(
            ts, equity, trades=data["trades"], exposure=data["position"],
            traded_notional=1e6, periods_per_year=525_600.0,
        )  # fmt: skip

    result = metrics()
    metrics_s = _median_seconds(metrics, args.repeat)

    import empyrical

    returns = equity[1:] / equity[:-1] - 1.0

    def reference() -> None:
        for name in ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio"):
            getattr(empyrical, name)(returns, annualization=525_600.0)
        empyrical.calmar_ratio(returns, annualization=525_600.0)
        empyrical.max_drawdown(returns)

    empyrical_s = _median_seconds(reference, args.repeat)

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.html"

        def report() -> None:
            write_report(
                target, title="bench", ts=ts, equity=equity, metrics=result,
                prices={"BTC/USDT@binance": (ts, data["price"])},
                positions={"BTC/USDT@binance": data["position"]}, trades=data["trades"],
                weights={"BTC": data["position"] * 0.6, "ETH": 1 - data["position"] * 0.6},
                risk_events=data["events"],
            )  # fmt: skip

        report_s = _median_seconds(report, max(1, args.repeat // 2))
        size = target.stat().st_size
    figures = {
        "bars": args.bars,
        "trades": len(data["trades"]),
        "compute_metrics_ms": round(metrics_s * 1e3, 2),
        "empyrical_same_figures_ms": round(empyrical_s * 1e3, 2),
        "write_report_ms": round(report_s * 1e3, 1),
        "report_mb": round(size / 1e6, 2),
    }
    for key, value in figures.items():
        print(f"{key:>28}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
