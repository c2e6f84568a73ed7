"""Seeded bars for engine and strategy tests (small, with gaps so open != previous close)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.engine.paper import iterate

MINUTE = Timeframe.parse("1m")


def walk(
    n: int = 600, seed: int = 3, symbol: str = "BTC/USDT", start_ns: int = 1_700_000_040 * 10**9
) -> BarBatch:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.001, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.003, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.003, n))
    ts = start_ns + np.arange(n, dtype=np.int64) * MINUTE.nanos
    return BarBatch.from_arrays(
        InstrumentId("sim", symbol),
        MINUTE,
        ts=ts,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=rng.uniform(50.0, 500.0, n),
    )


def perturb_after(batch: BarBatch, t: int, seed: int = 99) -> BarBatch:
    """The same bars up to index ``t``, different ones after it."""
    other = walk(len(batch), seed=seed, symbol=batch.instrument.symbol)
    scale = batch.close[t] / other.close[t]
    columns = {}
    for name in ("open", "high", "low", "close"):
        values = np.array(getattr(batch, name))
        values[t + 1 :] = np.array(getattr(other, name))[t + 1 :] * scale
        columns[name] = values
    volume = np.array(batch.volume)
    volume[t + 1 :] = volume[t + 1 :][::-1]
    return BarBatch.from_arrays(
        batch.instrument, batch.timeframe, ts=batch.ts, volume=volume, **columns
    )


class ListFeed:
    """A replay of in-memory batches, time-ordered, without sleeping (a paper-trading feed)."""

    def __init__(self, *batches: BarBatch) -> None:
        self.batches = batches

    @property
    def instruments(self) -> list[InstrumentId]:
        return [b.instrument for b in self.batches]

    @property
    def timeframe(self) -> Timeframe:
        return self.batches[0].timeframe

    def bars(self) -> list[Any]:
        return sorted((bar for b in self.batches for bar in b), key=lambda bar: bar.ts)

    def stream(self) -> Any:
        return iterate(self.bars())
