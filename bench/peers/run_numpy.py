"""Floor reference: a bare numpy (+ scipy.signal.lfilter for the EMA) signal-to-equity pass.

It is also the semantic reference the other runners are checked against: a crossover at bar i
(fast[i-1] < slow[i-1] and fast[i] > slow[i], or the mirror) sets the target position to
+size / -size, filled at open[i+1] with a commission of fees_bps of the traded notional.
MAs are NaN until `window` closes exist; the EMA is pandas' ewm(span, adjust=False) seeded with
the first close. `trades` counts position entries (each reversal opens one).
"""

from __future__ import annotations

import time

import numpy as np
from peer_common import emit, load_bars, parse_args
from scipy.signal import lfilter


def sma(close: np.ndarray, window: int) -> np.ndarray:
    out = np.full(close.shape, np.nan)
    csum = np.cumsum(close)
    out[window - 1] = csum[window - 1] / window
    out[window:] = (csum[window:] - csum[:-window]) / window
    return out


def ema(close: np.ndarray, window: int) -> np.ndarray:
    alpha = 2.0 / (window + 1.0)
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], close[1:], zi=[(1.0 - alpha) * close[0]])
    result = np.empty_like(close)
    result[0] = close[0]
    result[1:] = out
    result[: window - 1] = np.nan
    return result


def backtest(
    open_: np.ndarray,
    close: np.ndarray,
    fast: np.ndarray,
    slow: np.ndarray,
    size: float,
    fee_rate: float,
    cash: float,
) -> tuple[int, float, np.ndarray]:
    diff = fast - slow
    up = np.zeros(close.shape, dtype=bool)
    down = np.zeros(close.shape, dtype=bool)
    up[1:] = (diff[:-1] < 0) & (diff[1:] > 0)
    down[1:] = (diff[:-1] > 0) & (diff[1:] < 0)
    signal = np.where(up, size, np.where(down, -size, np.nan))
    signal[-1] = np.nan  # a signal on the last bar has no next open to fill at
    # target from the latest signal, held from the next bar on (forward fill by index)
    idx = np.where(np.isnan(signal), 0, np.arange(close.size))
    np.maximum.accumulate(idx, out=idx)
    target = np.where(np.isnan(signal[idx]), 0.0, signal[idx])
    position = np.zeros_like(close)
    position[1:] = target[:-1]
    traded = np.diff(position, prepend=0.0)
    cash_flow = -traded * open_ - np.abs(traded) * open_ * fee_rate
    equity = cash + np.cumsum(cash_flow) + position * close
    trades = int(np.count_nonzero(up[:-1]) + np.count_nonzero(down[:-1]))
    return trades, float(equity[-1]), equity


def main() -> None:
    spec = parse_args("numpy")
    bars = load_bars(spec.data)
    open_, close = bars["open"], bars["close"]
    ma = sma if spec.strategy == "sma" else ema
    start = time.perf_counter()
    fast, slow = ma(close, spec.fast), ma(close, spec.slow)
    trades, final_equity, _ = backtest(
        open_, close, fast, slow, spec.size, spec.fee_rate, spec.cash
    )
    seconds = time.perf_counter() - start
    emit("numpy", spec, close.size, seconds, trades, final_equity)


if __name__ == "__main__":
    main()
