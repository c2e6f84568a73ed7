"""The compiled fast path: a whole backtest of precomputed target positions in one numba loop.

When a strategy's decisions are known up front as an array (vectorised indicators, walk-forward
predictions), the event-driven loop has nothing left to decide, so the same fill model and
accounting run here in a compiled kernel, without Python objects per bar.

Semantics (identical to driving :class:`~neo.execution.simulated.SimulatedBroker` and
:class:`~neo.execution.ledger.Ledger` bar by bar with the same targets):

* ``targets[i]`` is the signed position wanted after bar *i* closes; NaN keeps the current one.
  When it differs from the position, one market order for the difference is submitted at bar *i*.
  Targets are used as given: round them to the lot size first.
* ``fill="next_open"``: that order fills at bar *i + 1*'s open; ``"close"``: at bar *i*'s close.
  An order submitted on the last bar in ``next_open`` mode never fills.
* Price: ``reference × (1 ± (slippage_bps·1e-4 + impact))`` against the taker, with
  ``impact = impact_coefficient × |quantity| / bar volume`` when ``impact="volume"``; fee
  ``rate × |quantity| × price`` with ``rate`` = ``fees_bps`` or the instrument's taker fee.
* Cash falls by ``quantity × price × multiplier + fee`` per fill; equity at bar *i* is
  ``cash + position × close[i] × multiplier`` after that bar's fills.

* With ``equity_fraction`` (backtesting.py's default sizing), only each target's sign counts: a
  change of side closes the position, then enters with that fraction of the equity (all cash
  once flat), in whole lots at the fill price — two fills on the same bar.

A participation cap (partial fills) needs the event-driven broker; it is refused here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.enums import LiquiditySide, Side
from neo.domain.errors import ConfigError
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument, floor_to_grid
from neo.domain.trade import Trade
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import TradeLog, TradeMatcher
from neo.execution.pricing import affordable_units, equity_budget, fill_fee, taker_price
from neo.jit import compile_shared

_floor_to_grid = compile_shared(floor_to_grid)
_execution_price = compile_shared(taker_price)
_fill_fee = compile_shared(fill_fee)
_equity_budget = compile_shared(equity_budget)
_equity_units = compile_shared(affordable_units, floor_to_grid=_floor_to_grid)


@njit(cache=True, nogil=True)
def _floor_all(raw: Any, lot: float, decimals: int) -> Any:
    out = np.empty(raw.shape[0])
    for i in range(raw.shape[0]):
        value = raw[i]
        out[i] = value if value != value else _floor_to_grid(value, lot, decimals)
    return out


def lot_targets(raw: FloatArray, instrument: Instrument) -> FloatArray:
    """Target positions rounded down in size to whole lots (NaN kept): the event path's
    :meth:`Instrument.round_quantity`, compiled."""
    values = np.ascontiguousarray(raw, dtype=np.float64)
    out: FloatArray = _floor_all(values, instrument.lot_size, instrument.quantity_decimals)
    return out


@njit(cache=True, nogil=True)
def _orders_for(position: float, target: float, equity_mode: bool) -> tuple[float, float]:
    """What a target asks for: (units to trade now, direction to enter with equity after).

    Units mode: one order for ``target - position``. Equity mode: the target's sign is the
    wanted side; a change of side closes the position, then enters with all equity.
    """
    if not equity_mode:
        return target - position, 0.0
    wanted = 0.0 if target == 0.0 else (1.0 if target > 0.0 else -1.0)
    held = 0.0 if position == 0.0 else (1.0 if position > 0.0 else -1.0)
    if wanted == held:
        return 0.0, 0.0
    return -position, wanted


@njit(cache=True, nogil=True)
def _book(
    fills: Any,
    n_fills: int,
    bar: int,
    units: float,
    side: float,
    reference: float,
    volume: float,
    cash: float,
    position: float,
    costs: Any,
) -> tuple[float, float, int]:
    """Fill ``units`` at ``reference``, then (``side`` != 0) enter with equity; record fills.

    ``costs`` = (fee rate, slippage, impact, multiplier, equity fraction, lot, lot decimals).
    Prices, fees and sizes come from :mod:`neo.execution.pricing`, as in the broker.
    """
    fee_rate, slippage, impact, multiplier = costs[0], costs[1], costs[2], costs[3]
    lot, decimals = costs[5], int(costs[6])
    for leg in range(2):
        quantity = units
        if leg == 1:
            if side == 0.0:
                break
            budget = _equity_budget(cash, 0.0, costs[4])  # flat: the equity is the cash
            taker_ref = _execution_price(reference, side, 0.0, 0.0, slippage, 0.0)
            lots = _equity_units(budget, taker_ref, fee_rate, lot, decimals)
            quantity = side * lots
            if side > 0.0 and impact != 0.0 and lots > 0.0:  # the broker's second sizing
                filled = _execution_price(reference, side, lots, volume, slippage, impact)
                if filled > taker_ref > 0.0:
                    lots = _equity_units(budget, filled, fee_rate, lot, decimals)
                    quantity = side * lots
        if quantity != 0.0:
            sign = 1.0 if quantity > 0.0 else -1.0
            size = abs(quantity)
            price = _execution_price(reference, sign, size, volume, slippage, impact)
            fee = _fill_fee(fee_rate, size, price)
            cash -= quantity * price * multiplier + fee
            position += quantity
            fills[n_fills, 0] = bar
            fills[n_fills, 1] = quantity
            fills[n_fills, 2] = price
            fills[n_fills, 3] = fee
            n_fills += 1
    return cash, position, n_fills


@njit(cache=True, nogil=True)
def _target_kernel(
    open_: Any,
    close: Any,
    volume: Any,
    targets: Any,
    cash: float,
    costs: Any,
    close_mode: bool,
    equity_mode: bool,
) -> Any:
    n = close.shape[0]
    multiplier = costs[3]
    equity = np.empty(n)
    cash_out = np.empty(n)
    position_out = np.empty(n)
    orders = 0  # at most two fills (close, then enter) per non-NaN target
    for i in range(n):
        if targets[i] == targets[i]:
            orders += 2
    fills = np.empty((orders, 4))  # bar, signed quantity, price, fee
    n_fills = 0
    position = 0.0
    pending_units = pending_side = 0.0
    for i in range(n):
        if pending_units != 0.0 or pending_side != 0.0:  # last bar's orders fill at this open
            cash, position, n_fills = _book(
                fills, n_fills, i, pending_units, pending_side, open_[i], volume[i], cash,
                position, costs,
            )  # fmt: skip
            pending_units = pending_side = 0.0
        target = targets[i]
        if target == target:
            units, side = _orders_for(position, target, equity_mode)
            if close_mode:
                cash, position, n_fills = _book(
                    fills, n_fills, i, units, side, close[i], volume[i], cash, position, costs
                )
            else:
                pending_units, pending_side = units, side
        cash_out[i] = cash
        position_out[i] = position
        equity[i] = cash + position * close[i] * multiplier
    return (
        equity,
        cash_out,
        position_out,
        fills[:n_fills, 0].astype(np.int64),
        fills[:n_fills, 1].copy(),
        fills[:n_fills, 2].copy(),
        fills[:n_fills, 3].copy(),
    )


@dataclass(frozen=True, slots=True, eq=False)
class FastPathResult:
    """Arrays of one fast-path run; :meth:`fills` and :meth:`trades` build domain records on
    demand (the kernel itself creates no Python objects).

    ``fill_quantity`` is signed (> 0 bought); ``fill_bar`` indexes the batch.
    """

    instrument: Instrument
    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    position: FloatArray
    fill_bar: IntArray
    fill_quantity: FloatArray
    fill_price: FloatArray
    fill_fee: FloatArray
    initial_cash: float
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.initial_cash

    @property
    def fill_ts(self) -> IntArray:
        ts: IntArray = self.ts[self.fill_bar]
        return ts

    def fills(self) -> list[Fill]:
        """The fills as :class:`Fill` records (order ids ``FP-1``, ``FP-2``, …)."""
        cached: list[Fill] | None = self._cache.get("fills")
        if cached is None:
            cached = kernel_fills(
                [self.instrument.id] * len(self.fill_quantity),
                self.fill_quantity,
                self.fill_price,
                self.fill_fee,
                self.fill_ts,
            )
            self._cache["fills"] = cached
        return list(cached)

    def trade_log(self) -> TradeLog:
        """The FIFO round trips as columns (no per-trade objects), matched like the ledger's."""
        log: TradeLog | None = self._cache.get("trade_log")
        if log is None:
            matcher = TradeMatcher()
            for quantity, price, fee, ts in zip(
                self.fill_quantity.tolist(),
                self.fill_price.tolist(),
                self.fill_fee.tolist(),
                self.fill_ts.tolist(),
                strict=True,
            ):
                matcher.add(quantity, price, fee, ts)
            log = self._cache["trade_log"] = matcher.log
        return log

    def trades(self) -> list[Trade]:
        """FIFO round trips, matched exactly as the ledger matches them."""
        cached: list[Trade] | None = self._cache.get("trades")
        if cached is None:
            cached = self._cache["trades"] = self.trade_log().to_trades([self.instrument.id])
        return list(cached)


def run_fast_path(
    batch: BarBatch,
    targets: FloatArray,
    instrument: Instrument,
    config: ExecutionConfig,
    *,
    equity_fraction: float | None = None,
) -> FastPathResult:
    """Run target positions through the compiled fill model and accounting.

    Parameters
    ----------
    batch:
        The bars, one instrument.
    targets:
        Signed target position after each bar (NaN = keep), same length as ``batch``.
    instrument:
        Supplies the taker fee (unless ``config.fees_bps``), the lot size (equity sizing) and
        the contract multiplier.
    config:
        Fill mode, slippage, impact, fees and starting cash; ``participation_cap`` must be unset.
    equity_fraction:
        When given, only the sign of each target counts (> 0 long, < 0 short, 0 flat, NaN keep):
        a change of side closes the position and then enters with ``equity_fraction`` of the
        equity, sized at the fill price in whole lots — what the event path does with a
        reduce-only close followed by an all-equity order (``Order.equity_fraction``)
        (backtesting.py's default ``size`` is 0.9999). An entry that buys < 1 lot is skipped.
    """
    target_array = np.ascontiguousarray(targets, dtype=np.float64)
    if target_array.shape != (len(batch),):
        raise ConfigError(
            f"targets must be one value per bar: got shape {target_array.shape} for "
            f"{len(batch)} bars"
        )
    if config.participation_cap is not None:
        raise ConfigError(
            "the fast path fills whole orders; unset participation_cap or use the event-driven "
            "backtest for partial fills"
        )
    if equity_fraction is not None and not 0.0 < equity_fraction <= 1.0:
        raise ConfigError(f"equity_fraction must be in (0, 1], got {equity_fraction}")
    fee_rate = config.fees_bps * 1e-4 if config.fees_bps is not None else instrument.taker_fee
    impact = config.impact_coefficient if config.impact == "volume" else 0.0
    equity, cash, position, bars, quantity, price, fee = _target_kernel(
        np.asarray(batch.open),
        np.asarray(batch.close),
        np.asarray(batch.volume),
        target_array,
        float(config.cash),
        np.array(
            [
                fee_rate,
                config.slippage_bps * 1e-4,
                impact,
                instrument.contract_multiplier,
                1.0 if equity_fraction is None else equity_fraction,
                instrument.lot_size,
                instrument.quantity_decimals,
            ],
            dtype=np.float64,
        ),
        config.fill == "close",
        equity_fraction is not None,
    )
    return FastPathResult(
        instrument=instrument,
        ts=np.asarray(batch.ts),
        equity=equity,
        cash=cash,
        position=position,
        fill_bar=bars,
        fill_quantity=quantity,
        fill_price=price,
        fill_fee=fee,
        initial_cash=float(config.cash),
    )


def kernel_fills(
    instruments: Sequence[InstrumentId],
    quantity: FloatArray,
    price: FloatArray,
    fee: FloatArray,
    ts: IntArray,
) -> list[Fill]:
    """A kernel's fill columns as :class:`Fill` records (order ids ``FP-1``, ``FP-2``, …; a
    signed ``quantity`` gives the side; the kernels fill every order whole, as taker)."""
    return [
        Fill(
            order_id=OrderId(f"FP-{k + 1}"),
            trade_id=TradeId(f"FP-{k + 1}"),
            instrument=iid,
            side=Side.BUY if q > 0 else Side.SELL,
            quantity=abs(q),
            price=px,
            fee=f,
            ts=t,
            liquidity=LiquiditySide.TAKER,
        )
        for k, (iid, q, px, f, t) in enumerate(
            zip(
                instruments,
                quantity.tolist(),
                price.tolist(),
                fee.tolist(),
                ts.tolist(),
                strict=True,
            )
        )
    ]
