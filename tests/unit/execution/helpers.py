"""Shared builders for the execution tests: bars, instruments and an event-path driver."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neo.domain import (
    BarBatch,
    Event,
    FloatArray,
    Instrument,
    InstrumentId,
    Order,
    Side,
    Timeframe,
)
from neo.domain.order import next_order_id
from neo.execution import EquityRecorder, ExecutionConfig, Ledger, SimulatedBroker

MINUTE = 60 * 1_000_000_000


def instrument(**kwargs: float) -> Instrument:
    defaults: dict[str, float] = {"lot_size": 1.0, "taker_fee": 0.001, "maker_fee": 0.0002}
    defaults.update(kwargs)
    return Instrument.simple("BTC/USDT", "sim", **defaults)


def random_walk(n: int, seed: int = 7, start: float = 100.0) -> BarBatch:
    """A seeded random walk with consistent OHLC (low <= open, close <= high)."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[start], close[:-1]]) * (1 + rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.002, n))
    volume = rng.uniform(500.0, 1500.0, n)
    return BarBatch.from_arrays(
        instrument().id,
        Timeframe.parse("1m"),
        ts=np.arange(n, dtype=np.int64) * MINUTE,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def bars(rows: list[tuple[float, float, float, float, float]]) -> BarBatch:
    """A batch from (open, high, low, close, volume) rows, one minute apart."""
    array = np.asarray(rows, dtype=np.float64)
    return BarBatch.from_arrays(
        instrument().id,
        Timeframe.parse("1m"),
        ts=np.arange(len(rows), dtype=np.int64) * MINUTE,
        open=array[:, 0],
        high=array[:, 1],
        low=array[:, 2],
        close=array[:, 3],
        volume=array[:, 4],
    )


class EventPathRun:
    """Targets driven bar by bar through SimulatedBroker + Ledger, as the engine does."""

    def __init__(
        self,
        batch: BarBatch,
        targets: FloatArray,
        spec: Instrument,
        config: ExecutionConfig,
        equity_fraction: float | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.ledger = Ledger(config.cash, {spec.id: spec})
        self.broker = SimulatedBroker({spec.id: spec}, config, self.events.append, self.ledger)
        recorder = EquityRecorder([spec.id])
        iid = spec.id
        for i in range(len(batch)):
            ts = int(batch.ts[i])
            close = float(batch.close[i])
            self.broker.on_bar_open(
                iid, ts, float(batch.open[i]), float(batch.high[i]), float(batch.low[i]), close,
                float(batch.volume[i]),
            )  # fmt: skip
            self.ledger.update_price(iid, close, ts)
            target = float(targets[i])
            if not math.isnan(target):
                if equity_fraction is None:
                    self._to_units(iid, target, ts)
                else:
                    self._to_side(iid, target, ts, equity_fraction)
            self.broker.on_bar_close(iid, ts, close)
            recorder.record_ledger(ts, self.ledger)
        self.curve = recorder.arrays()

    def _order(self, iid: InstrumentId, signed: float, ts: int, **fields: Any) -> Order:
        side = Side.BUY if signed > 0 else Side.SELL
        return Order(
            id=next_order_id(), instrument=iid, side=side, quantity=abs(signed), created_ns=ts,
            **fields,
        )  # fmt: skip

    def _to_units(self, iid: InstrumentId, target: float, ts: int) -> None:
        held = self.ledger.position(iid)
        if target != held:
            self.broker.submit(self._order(iid, target - held, ts))

    def _to_side(self, iid: InstrumentId, target: float, ts: int, fraction: float) -> None:
        """Close, then enter with equity: backtesting.py's ``position.close(); buy()``."""
        wanted = float(np.sign(target))
        held = self.ledger.position(iid)
        if wanted == np.sign(held):
            return
        if held:
            self.broker.submit(self._order(iid, -held, ts, reduce_only=True))
        if wanted:
            self.broker.submit(self._order(iid, wanted, ts, equity_fraction=fraction))
