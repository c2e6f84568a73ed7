"""Synthetic OHLCV random walks for feature and model tests (no network, seeded)."""

from __future__ import annotations

import numpy as np

from neo.domain import BarBatch, InstrumentId, Timeframe

HOUR_NS = 3_600_000_000_000
START_NS = 1_700_000_000_000_000_000 // HOUR_NS * HOUR_NS


def random_walk(
    n: int,
    seed: int,
    symbol: str = "AAA/USDT",
    *,
    timeframe: str = "1h",
    start_ns: int = START_NS,
    drift: float = 0.0,
    ts: np.ndarray | None = None,
) -> BarBatch:
    """Geometric random walk with consistent OHLC and occasional flat (zero-range) bars."""
    rng = np.random.default_rng(seed)
    tf = Timeframe.parse(timeframe)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    volume = rng.lognormal(3.0, 0.5, n)
    stamps = start_ns + np.arange(n, dtype=np.int64) * tf.nanos if ts is None else ts
    return BarBatch.from_arrays(
        InstrumentId("sim", symbol), tf,
        ts=stamps, open=open_, high=high, low=low, close=close, volume=volume,
    )  # fmt: skip


def perturb_after(batch: BarBatch, t: int, seed: int) -> BarBatch:
    """Replace every bar after index ``t`` with noise (same timestamps)."""
    rng = np.random.default_rng(seed)
    k = len(batch) - t - 1
    cols = {}
    for name in ("open", "high", "low", "close", "volume"):
        col = np.array(getattr(batch, name))
        col[t + 1 :] = rng.uniform(1.0, 500.0, k)
        cols[name] = col
    cols["high"] = np.maximum.reduce([cols["open"], cols["high"], cols["close"], cols["low"]])
    cols["low"] = np.minimum.reduce([cols["open"], cols["high"], cols["close"], cols["low"]])
    return BarBatch.from_arrays(batch.instrument, batch.timeframe, ts=batch.ts, **cols)
