"""vectorbt peer: `Portfolio.from_signals`, the vectorised (numba) reference NEO's fast path meets.

Signals come from vectorbt's own MA indicator and `ma_crossed_above/below`; they are shifted one
bar and executed at `open` so fills land at the next bar's open like the other engines. A short
entry while long reverses the position (upon_opposite_entry="reverse"). numba compilation is
warmed up on a small slice first and not timed: it is a one-off cost per process.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import vectorbt as vbt
from peer_common import emit, load_bars, parse_args

WARMUP_BARS = 500


def run(
    open_: pd.Series,
    close: pd.Series,
    kind: str,
    fast: int,
    slow: int,
    size: float,
    fees: float,
    cash: float,
) -> tuple[int, float]:
    ewm = kind == "ema"
    fast_ma = vbt.MA.run(close, window=fast, ewm=ewm)
    slow_ma = vbt.MA.run(close, window=slow, ewm=ewm)
    up = fast_ma.ma_crossed_above(slow_ma).to_numpy()
    down = fast_ma.ma_crossed_below(slow_ma).to_numpy()
    entries = np.zeros_like(up)
    short_entries = np.zeros_like(down)
    entries[1:] = up[:-1]
    short_entries[1:] = down[:-1]
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=entries,
        short_entries=short_entries,
        price=open_,
        size=size,
        size_type="amount",
        fees=fees,
        init_cash=cash,
        upon_opposite_entry="reverse",
    )
    return int(portfolio.entry_trades.count()), float(portfolio.final_value())


def main() -> None:
    spec = parse_args("vectorbt")
    bars = load_bars(spec.data)
    # tz-naive: with a tz-aware index vectorbt 0.28 + pandas 2.3 spend ~90 % of the run
    # converting the index to Timestamp objects in shape checks, which would flatter NEO.
    index = pd.to_datetime(bars["timestamp"], unit="ms")
    open_ = pd.Series(bars["open"], index=index, name="open")
    close = pd.Series(bars["close"], index=index, name="close")
    args = (spec.strategy, spec.fast, spec.slow, spec.size, spec.fee_rate, spec.cash)
    run(open_.iloc[:WARMUP_BARS], close.iloc[:WARMUP_BARS], *args)  # numba JIT, not timed
    start = time.perf_counter()
    trades, final_equity = run(open_, close, *args)
    seconds = time.perf_counter() - start
    emit("vectorbt", spec, close.size, seconds, trades, final_equity)


if __name__ == "__main__":
    main()
