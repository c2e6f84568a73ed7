"""The compiled fast path for several instruments sharing one cash account.

The same rules as :mod:`neo.execution.fastpath` (units targets, ``next_open`` or ``close`` fills,
slippage, volume impact, fees), applied per instrument in the order given, with one cash balance:
equity at bar *i* is ``cash + Σ position × close × multiplier``. It reproduces what
:class:`~neo.execution.simulated.SimulatedBroker` and :class:`~neo.execution.ledger.Ledger` do
when every instrument's bar is shown before any target is acted on. The bars of all instruments
must share one timeline (the same ``ts`` column).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numba import njit

from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.trade import Trade
from neo.execution.config import ExecutionConfig
from neo.execution.fastpath import _execution_price, _fill_fee
from neo.execution.ledger import TradeLog, TradeMatcher

Matrix = FloatArray  # (bars, instruments), float64


@njit(cache=True, nogil=True)
def _multi_kernel(
    open_: Matrix,
    close: Matrix,
    volume: Matrix,
    targets: Matrix,
    cash: float,
    costs: Matrix,
    close_mode: bool,
) -> tuple[FloatArray, FloatArray, Matrix, Matrix]:
    """``costs[j]`` = (fee rate, slippage, impact, multiplier) of instrument ``j``; fills come
    back as rows (bar, instrument, signed quantity, price, fee)."""
    n, k = close.shape
    equity = np.empty(n)
    cash_out = np.empty(n)
    positions = np.zeros((n, k))
    orders = 0
    for i in range(n):
        for j in range(k):
            if targets[i, j] == targets[i, j]:
                orders += 1
    fills = np.empty((orders, 5))
    n_fills = 0
    position = np.zeros(k)
    pending = np.zeros(k)
    for i in range(n):
        for phase in range(2):  # 0: last bar's orders at this open; 1: this bar's targets
            for j in range(k):
                if phase == 0:
                    quantity, reference = pending[j], open_[i, j]
                    pending[j] = 0.0
                else:
                    target = targets[i, j]
                    if target != target:
                        continue
                    quantity, reference = target - position[j], close[i, j]
                    if not close_mode:
                        pending[j] = quantity
                        continue
                if quantity == 0.0:
                    continue
                sign = 1.0 if quantity > 0.0 else -1.0
                size = abs(quantity)
                price = _execution_price(
                    reference, sign, size, volume[i, j], costs[j, 1], costs[j, 2]
                )
                fee = _fill_fee(costs[j, 0], size, price)
                cash -= quantity * price * costs[j, 3] + fee
                position[j] += quantity
                fills[n_fills, 0] = i
                fills[n_fills, 1] = j
                fills[n_fills, 2] = quantity
                fills[n_fills, 3] = price
                fills[n_fills, 4] = fee
                n_fills += 1
        value = 0.0
        for j in range(k):
            positions[i, j] = position[j]
            value += position[j] * close[i, j] * costs[j, 3]
        cash_out[i] = cash
        equity[i] = cash + value
    return equity, cash_out, positions, fills[:n_fills].copy()


@dataclass(frozen=True, slots=True, eq=False)
class MultiFastPathResult:
    """Arrays of one multi-instrument fast-path run.

    ``positions[:, j]`` and the fill rows with ``fill_instrument == j`` belong to
    ``instruments[j]``.
    """

    instruments: tuple[InstrumentId, ...]
    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    positions: Matrix
    fill_bar: IntArray
    fill_instrument: IntArray
    fill_quantity: FloatArray
    fill_price: FloatArray
    fill_fee: FloatArray
    initial_cash: float

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.initial_cash

    def position(self, instrument: InstrumentId) -> FloatArray:
        column: FloatArray = self.positions[:, self.instruments.index(instrument)]
        return column

    def trade_log(self) -> TradeLog:
        """FIFO round trips of every instrument, in the order they closed (like the ledger)."""
        log = TradeLog()
        matchers = [TradeMatcher(j, log) for j in range(len(self.instruments))]
        fill_ts = self.ts[self.fill_bar].tolist()
        for j, quantity, price, fee, ts in zip(
            self.fill_instrument.tolist(),
            self.fill_quantity.tolist(),
            self.fill_price.tolist(),
            self.fill_fee.tolist(),
            fill_ts,
            strict=True,
        ):
            matchers[j].add(quantity, price, fee, ts)
        return log

    def trades(self) -> list[Trade]:
        return self.trade_log().to_trades(self.instruments)


def run_fast_path_many(
    batches: Mapping[InstrumentId, BarBatch],
    targets: Mapping[InstrumentId, FloatArray],
    instruments: Mapping[InstrumentId, Instrument],
    config: ExecutionConfig,
) -> MultiFastPathResult:
    """Run per-instrument target positions (signed units, NaN = keep) on one cash account.

    Instruments are processed in the order of ``batches``; every batch must have the same
    ``ts`` column and every instrument a target array of that length and an ``Instrument``.
    """
    ids = tuple(batches)
    if not ids:
        raise ConfigError("give at least one instrument's bars to run_fast_path_many")
    first = batches[ids[0]]
    for iid in ids:
        batch = batches[iid]
        if not np.array_equal(batch.ts, first.ts):
            raise ConfigError(
                f"{iid}: bars are not on the same timeline as {ids[0]}; align them first "
                "(same ts for every instrument)"
            )
        if iid not in targets or iid not in instruments:
            raise ConfigError(f"{iid}: give both its targets and its Instrument")
        if np.shape(targets[iid]) != (len(first),):
            raise ConfigError(f"{iid}: targets must be one value per bar ({len(first)})")
    if config.participation_cap is not None:
        raise ConfigError("the fast path fills whole orders; unset participation_cap")

    def matrix(column: str) -> Matrix:
        values: Matrix = np.column_stack([getattr(batches[i], column) for i in ids])
        return np.ascontiguousarray(values, dtype=np.float64)

    impact = config.impact_coefficient if config.impact == "volume" else 0.0
    costs = np.array(
        [
            [
                config.fees_bps * 1e-4 if config.fees_bps is not None else instruments[i].taker_fee,
                config.slippage_bps * 1e-4,
                impact,
                instruments[i].contract_multiplier,
            ]
            for i in ids
        ],
        dtype=np.float64,
    )
    wanted = np.ascontiguousarray(np.column_stack([targets[i] for i in ids]), dtype=np.float64)
    equity, cash, positions, fills = _multi_kernel(
        matrix("open"), matrix("close"), matrix("volume"), wanted, float(config.cash), costs,
        config.fill == "close",
    )  # fmt: skip
    return MultiFastPathResult(
        instruments=ids,
        ts=np.asarray(first.ts),
        equity=equity,
        cash=cash,
        positions=positions,
        fill_bar=fills[:, 0].astype(np.int64),
        fill_instrument=fills[:, 1].astype(np.int64),
        fill_quantity=fills[:, 2].copy(),
        fill_price=fills[:, 3].copy(),
        fill_fee=fills[:, 4].copy(),
        initial_cash=float(config.cash),
    )
