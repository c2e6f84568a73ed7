"""backtesting.py peer: the library's own SmaCross pattern with a fixed 100-unit reversal.

Indicators are built in `init` (pandas rolling / ewm), `next` runs per bar in Python, orders
fill at the next bar's open (trade_on_close=False) and `commission` is charged on both legs.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from peer_common import emit, load_bars, parse_args


def sma(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window).mean().to_numpy()


def ema(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).ewm(span=window, adjust=False, min_periods=window).mean().to_numpy()


class MaCross(Strategy):
    kind = "sma"
    fast = 10
    slow = 20
    size = 100.0

    def init(self) -> None:
        ma = sma if self.kind == "sma" else ema
        self.fast_ma = self.I(ma, self.data.Close, self.fast)
        self.slow_ma = self.I(ma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.fast_ma, self.slow_ma):
            self.position.close()
            self.buy(size=self.size)
        elif crossover(self.slow_ma, self.fast_ma):
            self.position.close()
            self.sell(size=self.size)


def main() -> None:
    spec = parse_args("backtesting.py")
    bars = load_bars(spec.data)
    frame = pd.DataFrame(
        {
            "Open": bars["open"],
            "High": bars["high"],
            "Low": bars["low"],
            "Close": bars["close"],
            "Volume": bars["volume"],
        },
        index=pd.to_datetime(bars["timestamp"], unit="ms", utc=True).tz_localize(None),
    )
    size = int(spec.size) if float(spec.size).is_integer() else spec.size
    backtest = Backtest(frame, MaCross, cash=spec.cash, commission=spec.fee_rate)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trades remain open at the end" is expected here
        stats = backtest.run(kind=spec.strategy, fast=spec.fast, slow=spec.slow, size=size)
    seconds = time.perf_counter() - start
    strategy = stats["_strategy"]
    closed = len(strategy.closed_trades)
    trades = closed + len(strategy.trades)
    emit(
        "backtesting.py",
        spec,
        len(frame),
        seconds,
        trades,
        stats["Equity Final [$]"],
        closed_trades=closed,
    )


if __name__ == "__main__":
    main()
