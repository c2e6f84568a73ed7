"""The compiled fast path for strategies whose decisions are known up front.

A strategy that can state its target position for every bar as an array
(:meth:`~neo.strategies.base.Strategy.vector_targets`: vectorised indicators, walk-forward
predictions) skips the event loop: its targets go through EXECUTION's numba kernels, which apply
the same fill model and accounting as the simulated broker and ledger, so trades, fills and
equity match the event-driven backtest. One instrument runs on
:func:`~neo.execution.fastpath.run_fast_path` (fixed units or all-equity reversals), several on
one cash account on :func:`~neo.execution.fastpath_multi.run_fast_path_many` (fixed units).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any, overload

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.enums import LiquiditySide, OrderStatus, OrderType, Side
from neo.domain.errors import ConfigError, StrategyError
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.domain.trade import Trade
from neo.engine.backtest import BacktestResult, as_batches
from neo.engine.instruments import default_instrument
from neo.engine.loop import LoopStats, aligned_predictions
from neo.execution.config import ExecutionConfig
from neo.execution.fastpath import FastPathResult, lot_targets, run_fast_path
from neo.execution.fastpath_multi import MultiFastPathResult, run_fast_path_many
from neo.execution.ledger import TradeLog, TradeMatcher
from neo.execution.pricing import taker_price
from neo.logs import get_logger
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from neo.strategies.registry import create_strategy

log = get_logger("engine")

Predictions = FloatArray | Mapping[InstrumentId, FloatArray] | None


def strategy_targets(
    strategy: Strategy,
    batch: BarBatch,
    instrument: Instrument,
    predictions: FloatArray | None = None,
) -> FloatArray:
    """The strategy's per-bar signals sized as targets (NaN = keep): ``units:N`` gives
    ``signal × N`` rounded down to the lot size; fill-time sizing (``equity``, ``fraction``)
    gives sides (±1, 0), which the kernel sizes at the fill price.
    """
    if predictions is not None:
        predictions = aligned_predictions(batch, predictions)
    problem = strategy.fast_path_problem(1)
    raw = None if problem else strategy.vector_targets(batch, predictions)
    if raw is None:
        raise StrategyError(
            problem
            or f"strategy {strategy.name!r} has no vector form (its decisions depend on fills "
            "or the account): run it on the event path (--engine event)"
        )
    if strategy.vector_all_equity:
        return np.sign(raw)
    return lot_targets(raw * strategy.sizing.value, instrument)


@overload
def run_fast(
    strategy: Strategy | str,
    bars: BarBatch,
    *,
    params: Mapping[str, Any] | None = None,
    instrument: Instrument | None = None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    predictions: Predictions = None,
) -> FastPathResult: ...


@overload
def run_fast(
    strategy: Strategy | str,
    bars: Mapping[InstrumentId, BarBatch],
    *,
    params: Mapping[str, Any] | None = None,
    instrument: Instrument | None = None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    predictions: Predictions = None,
) -> FastPathResult | MultiFastPathResult: ...


def run_fast(
    strategy: Strategy | str,
    bars: BarBatch | Mapping[InstrumentId, BarBatch],
    *,
    params: Mapping[str, Any] | None = None,
    instrument: Instrument | None = None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    predictions: Predictions = None,
) -> FastPathResult | MultiFastPathResult:
    """Backtest ``strategy`` through the compiled kernels.

    Parameters
    ----------
    bars:
        One batch, or one per instrument (several need the same ``ts`` column: they share one
        cash account, processed in the mapping's order like the event path's instruments).
    instrument, instruments:
        Specs (fees, lots); :func:`default_instrument` for any not given.
    predictions:
        Forecasts aligned to the bars (one array, or one per instrument), as ``ctx.prediction``.
    """
    if isinstance(strategy, str):
        strategy = create_strategy(strategy, params)
    elif params:
        raise ConfigError("pass params only with a strategy name, not with an instance")
    config = execution or ExecutionConfig()
    batches = as_batches(bars)
    specs = dict(instruments or {})
    if instrument is not None:
        specs.setdefault(instrument.id, instrument)
    specs = {iid: specs.get(iid) or default_instrument(iid) for iid in batches}
    forecasts = _forecasts_by_instrument(predictions, batches)
    targets = {
        iid: strategy_targets(strategy, batch, specs[iid], forecasts.get(iid))
        for iid, batch in batches.items()
    }
    if len(batches) == 1:
        iid, batch = next(iter(batches.items()))
        fraction = strategy.sizing.fill_fraction
        return run_fast_path(batch, targets[iid], specs[iid], config, equity_fraction=fraction)
    problem = strategy.fast_path_problem(len(batches))
    if problem:
        raise ConfigError(problem)
    return run_fast_path_many(batches, targets, specs, config)


def _forecasts_by_instrument(
    predictions: Predictions, batches: Mapping[InstrumentId, BarBatch]
) -> dict[InstrumentId, FloatArray]:
    if predictions is None:
        return {}
    if isinstance(predictions, Mapping):
        return dict(predictions)
    if len(batches) != 1:
        raise ConfigError("give predictions per instrument (a mapping) for several instruments")
    return {next(iter(batches)): predictions}


def fast_backtest(
    strategy: Strategy,
    bars: BarBatch | Mapping[InstrumentId, BarBatch],
    *,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    predictions: Predictions = None,
    close_at_end: bool = False,
) -> BacktestResult:
    """:func:`run_fast` with its result in the event path's shape (what reports and the CLI
    read): fills, FIFO trades, one filled market order per fill, per-step equity.

    ``close_at_end`` flattens what is held on the last bar at the fill model's price there, as
    :func:`neo.engine.backtest.close_positions_at_end` does on the event path."""
    config = execution or ExecutionConfig()
    batches = as_batches(bars)
    result = run_fast(
        strategy, batches, instruments=instruments, execution=config, predictions=predictions
    )
    if isinstance(result, FastPathResult):
        iid = result.instrument.id
        fills = result.fills()
        trades = result.trades()
        positions = {iid: result.position}
        prices = {iid: np.asarray(batches[iid].close, dtype=np.float64)}
    else:
        fills = _multi_fills(result)
        trades = result.trades()
        positions = {iid: result.position(iid) for iid in result.instruments}
        prices = {iid: np.asarray(batches[iid].close, dtype=np.float64) for iid in batches}
    cash, equity = result.cash, result.equity
    if close_at_end:
        specs = {iid: (instruments or {}).get(iid) or default_instrument(iid) for iid in batches}
        closing = _closing_fills(batches, positions, specs, config, len(fills))
        if closing:
            cash, equity = _after_closing(closing, cash, positions, prices, specs)
            fills = fills + closing
            trades = _fifo_trades(fills, list(batches))
    orders = [_filled_order(fill, strategy.name) for fill in fills]
    bars_seen = sum(len(b) for b in batches.values())
    stats = LoopStats(bars=bars_seen, orders_submitted=len(orders), fills=len(fills))
    return BacktestResult(
        strategy=strategy.name,
        params=strategy.param_values(),
        ts=result.ts,
        equity=equity,
        cash=cash,
        positions=positions,
        prices=prices,
        fills=fills,
        trades=trades,
        orders=orders,
        events=[],
        stats=stats,
        initial_cash=config.cash,
        fees=float(np.sum(result.fill_fee)),
        extra={"engine": "fast"},
        plots=_plots(strategy, batches, instruments),
    )


class _NoAccount:
    """What ``on_start`` may read of an account when the fast path only wants its plots."""

    cash = equity = math.nan

    def position(self, instrument: InstrumentId) -> float:
        return 0.0


def _plots(
    strategy: Strategy,
    batches: Mapping[InstrumentId, BarBatch],
    instruments: Mapping[InstrumentId, Instrument] | None,
) -> dict[InstrumentId, dict[str, FloatArray]]:
    """The series the strategy asks to draw (``ctx.plot`` in ``on_start``), computed as the
    event path computes them: the strategy's setup on a context over the whole history. The
    fast path needs them only for the report, so a setup that fails there draws none."""
    out: dict[InstrumentId, dict[str, FloatArray]] = {}
    for iid, batch in batches.items():
        spec = (instruments or {}).get(iid) or default_instrument(iid)
        ctx = StrategyContext(
            spec, _NoAccount(), timeframe_ns=batch.timeframe.nanos, strategy_name=strategy.name
        )
        columns = {name: getattr(batch, name) for name in ("ts", "open", "high", "low", "close")}
        ctx.load(
            {**columns, "volume": batch.volume, "volatility": partial(np.full, len(batch), np.nan)}
        )
        try:
            strategy.on_start(ctx)
        except Exception as exc:  # the fills do not depend on it; only the chart is lost
            log.warning(
                f"{strategy.name}: on_start failed on the fast path ({exc}); no indicators drawn"
            )
            continue
        out[iid] = ctx.plotted()
    return out


def _closing_fills(
    batches: Mapping[InstrumentId, BarBatch],
    positions: Mapping[InstrumentId, FloatArray],
    specs: Mapping[InstrumentId, Instrument],
    config: ExecutionConfig,
    numbered: int,
) -> list[Fill]:
    """One taker fill per open position on its last bar: at the open (``next_open``) or the
    close (``close`` fill), with the kernels' slippage, impact and fee."""
    impact = config.impact_coefficient if config.impact == "volume" else 0.0
    fills: list[Fill] = []
    for iid, batch in batches.items():
        held = float(positions[iid][-1])
        if held == 0.0:
            continue
        last = len(batch) - 1
        reference = float((batch.close if config.fill == "close" else batch.open)[last])
        spec = specs[iid]
        rate = config.fees_bps * 1e-4 if config.fees_bps is not None else spec.taker_fee
        price = taker_price(
            reference,
            -1.0 if held > 0 else 1.0,
            abs(held),
            float(batch.volume[last]),
            config.slippage_bps * 1e-4,
            impact,
        )
        number = numbered + len(fills) + 1
        fills.append(
            Fill(
                order_id=OrderId(f"FP-{number}"),
                trade_id=TradeId(f"FP-{number}"),
                instrument=iid,
                side=Side.SELL if held > 0 else Side.BUY,
                quantity=abs(held),
                price=price,
                fee=rate * abs(held) * price,
                ts=int(batch.ts[last]),
                liquidity=LiquiditySide.TAKER,
            )
        )
    return fills


def _after_closing(
    closing: list[Fill],
    cash: FloatArray,
    positions: dict[InstrumentId, FloatArray],
    prices: Mapping[InstrumentId, FloatArray],
    specs: Mapping[InstrumentId, Instrument],
) -> tuple[FloatArray, FloatArray]:
    """Cash and equity with the closing fills booked on the last step (positions zeroed)."""
    cash = cash.copy()
    for fill in closing:
        multiplier = specs[fill.instrument].contract_multiplier
        cash[-1] -= fill.signed_quantity * fill.price * multiplier + fill.fee
        position = positions[fill.instrument] = positions[fill.instrument].copy()
        position[-1] = 0.0
    equity = cash.copy()
    for iid, position in positions.items():
        equity += np.nan_to_num(position * prices[iid]) * specs[iid].contract_multiplier
    return cash, equity


def _fifo_trades(fills: list[Fill], instruments: list[InstrumentId]) -> list[Trade]:
    log = TradeLog()
    matchers = {iid: TradeMatcher(k, log) for k, iid in enumerate(instruments)}
    for fill in sorted(fills, key=lambda f: f.ts):  # stable: a step keeps its fill order
        matchers[fill.instrument].add(fill.signed_quantity, fill.price, fill.fee, fill.ts)
    return log.to_trades(instruments)


def _multi_fills(result: MultiFastPathResult) -> list[Fill]:
    from neo.execution.fastpath import kernel_fills

    names = result.instruments
    return kernel_fills(
        [names[j] for j in result.fill_instrument.tolist()],
        result.fill_quantity,
        result.fill_price,
        result.fill_fee,
        result.ts[result.fill_bar],
    )


def _filled_order(fill: Fill, tag: str) -> Order:
    """The market order behind a kernel fill (the kernel fills each order whole, at once)."""
    return Order(
        id=fill.order_id,
        instrument=fill.instrument,
        side=fill.side,
        quantity=fill.quantity,
        type=OrderType.MARKET,
        status=OrderStatus.FILLED,
        filled_quantity=fill.quantity,
        average_fill_price=fill.price,
        created_ns=fill.ts,
        updated_ns=fill.ts,
        tag=tag,
    )
