"""backtrader peer: event-driven Python loop, CrossOver indicator, order_target_size reversal.

Market orders fill at the next bar's open (backtrader's default); commission is a percentage of
traded value. Observers are off (stdstats=False) so only the strategy itself is measured;
preload and runonce stay at their defaults, backtrader's fastest mode.
"""

from __future__ import annotations

import time

import backtrader as bt
import pandas as pd
from peer_common import emit, load_bars, parse_args


class MaCross(bt.Strategy):
    params = (("kind", "sma"), ("fast", 10), ("slow", 20), ("size", 100.0))

    def __init__(self) -> None:
        ma = bt.ind.SMA if self.p.kind == "sma" else bt.ind.EMA
        fast = ma(self.data.close, period=self.p.fast)
        slow = ma(self.data.close, period=self.p.slow)
        self.cross = bt.ind.CrossOver(fast, slow)
        self.entries = 0

    def next(self) -> None:
        if self.cross[0] > 0:
            self.order_target_size(target=self.p.size)
        elif self.cross[0] < 0:
            self.order_target_size(target=-self.p.size)

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.justopened:
            self.entries += 1


def main() -> None:
    spec = parse_args("backtrader")
    bars = load_bars(spec.data)
    frame = pd.DataFrame(
        {name: bars[name] for name in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(bars["timestamp"], unit="ms"),
    )
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    cerebro.broker.setcash(spec.cash)
    cerebro.broker.setcommission(commission=spec.fee_rate)
    cerebro.addstrategy(MaCross, kind=spec.strategy, fast=spec.fast, slow=spec.slow, size=spec.size)
    start = time.perf_counter()
    (strategy,) = cerebro.run()
    seconds = time.perf_counter() - start
    emit("backtrader", spec, len(frame), seconds, strategy.entries, cerebro.broker.getvalue())


if __name__ == "__main__":
    main()
