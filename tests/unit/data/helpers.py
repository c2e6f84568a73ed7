"""Small bar-building helpers shared by the data-layer tests."""

from __future__ import annotations

import numpy as np

from neo.domain import BarBatch, InstrumentId, Timeframe

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00Z, on every grid up to 1w
MINUTE = 60_000_000_000
BTC = InstrumentId("sim", "BTC/USDT")
TF = Timeframe.parse("1m")


def walk(n: int, seed: int = 0, step: float = 0.002) -> dict[str, np.ndarray]:
    """A clean 1m random walk (moves far below every rule's limit)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, step, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    return {
        "ts": T0 + np.arange(n, dtype=np.int64) * MINUTE,
        "open": open_,
        "high": np.maximum(open_, close) * 1.001,
        "low": np.minimum(open_, close) * 0.999,
        "close": close,
        "volume": rng.uniform(1.0, 10.0, n),
    }


def batch_of(columns: dict[str, np.ndarray], instrument: InstrumentId = BTC) -> BarBatch:
    return BarBatch.from_arrays(instrument, TF, **columns)
