"""The backtest driver: the trading loop on recorded bars with a simulated clock and broker.

Nothing here decides anything: the driver builds the ledger, the broker (the simulated one
unless given another :data:`~neo.execution.broker.BrokerFactory`) and the loop,
pre-fills each instrument's history and calls the loop's per-bar method in a tight loop over
indices (no asyncio, no per-bar objects), then collects what happened.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.enums import Side
from neo.domain.errors import ConfigError, DataError
from neo.domain.events import Event
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.domain.trade import Trade
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.config import EngineConfig
from neo.engine.instruments import default_instrument
from neo.engine.loop import AutonomousTradingLoop, LoopState, LoopStats
from neo.execution.broker import Broker, BrokerFactory
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import Ledger
from neo.execution.simulated import simulated_broker
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import RiskGate
from neo.strategies.base import Strategy
from neo.strategies.registry import create_strategy

PROGRESS_STEPS = 100
"""A progress callback is called about this many times per run, whatever its length."""


def _progress_chunk(total: int) -> int:
    return max(1, -(-total // PROGRESS_STEPS))


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """Everything a backtest produced; arrays are per step (the union of bar times).

    ``events`` holds the events of note: risk denials, strategy failures and broker rejections.
    ``plots`` holds, per instrument, the series the strategy asked to draw over its price
    (``ctx.plot``), one value per bar of that instrument.
    """

    strategy: str
    params: dict[str, Any]
    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    positions: dict[InstrumentId, FloatArray]
    prices: dict[InstrumentId, FloatArray]
    fills: list[Fill]
    trades: list[Trade]
    orders: list[Order]
    events: list[Event]
    stats: LoopStats
    initial_cash: float
    fees: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    plots: dict[InstrumentId, dict[str, FloatArray]] = field(default_factory=dict)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.initial_cash

    @property
    def exposure(self) -> FloatArray:
        """Gross exposure over equity at each step."""
        gross = np.zeros(len(self.ts))
        for iid, position in self.positions.items():
            gross += np.abs(position * np.nan_to_num(self.prices[iid]))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio: FloatArray = np.where(self.equity > 0, gross / self.equity, 0.0)
        return ratio

    @property
    def traded_notional(self) -> float:
        return float(sum(f.quantity * f.price for f in self.fills))


def as_batches(bars: Mapping[InstrumentId, BarBatch] | BarBatch) -> dict[InstrumentId, BarBatch]:
    """One batch or a mapping as a checked mapping: not empty, one timeframe, no empty batch."""
    batches = {bars.instrument: bars} if isinstance(bars, BarBatch) else dict(bars)
    if not batches:
        raise DataError("no bars to backtest: select at least one instrument with data")
    timeframes = {str(b.timeframe) for b in batches.values()}
    if len(timeframes) != 1:
        raise ConfigError(f"all instruments must share one timeframe, got {sorted(timeframes)}")
    for iid, batch in batches.items():
        if len(batch) == 0:
            raise DataError(f"no bars for {iid} in the selected range: ingest or widen --start")
    return batches


def run_backtest(
    strategy: Strategy | str,
    bars: Mapping[InstrumentId, BarBatch] | BarBatch,
    *,
    params: Mapping[str, Any] | None = None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    engine: EngineConfig | None = None,
    risk: RiskGate | None = None,
    portfolio: PortfolioConstructor | None = None,
    predictions: Mapping[InstrumentId, FloatArray] | None = None,
    bus: MessageBus | None = None,
    progress: Callable[[int], None] | None = None,
    close_at_end: bool = False,
    broker: BrokerFactory | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` through the event-driven loop.

    Parameters
    ----------
    strategy:
        A strategy instance, or a registered name (with ``params``).
    bars:
        One batch, or one per instrument (same timeframe).
    instruments:
        Instrument specs (fees, lots); :func:`default_instrument` for any not given.
    execution, engine:
        Fill model and starting cash; loop settings.
    risk, portfolio:
        Optional risk gate (denied orders become ``RiskDenied`` in ``events``) and portfolio
        constructor (turns ``ctx.set_forecast`` values into target quantities).
    predictions:
        Model forecasts per instrument aligned to its bars (NaN where none), read by strategies
        as ``ctx.prediction``.
    bus:
        Subscribe to events before the run (e.g. to record them); one is made when omitted.
    progress:
        Called with the number of bars done since the last call.
    close_at_end:
        Close every open position at the last bar (:func:`close_positions_at_end`), so the
        trade list and the final equity hold no open position, like backtesting.py's
        ``finalize_trades=True``. Without it open positions stay open, marked to the last close.
    broker:
        Builds the broker from the instruments, the event sink and the ledger; the simulated
        broker with ``execution``'s fill model when omitted.
    """
    if isinstance(strategy, str):
        strategy = create_strategy(strategy, params)
    elif params:
        raise ConfigError("pass params only with a strategy name, not with an instance")
    batches = as_batches(bars)
    specs = {iid: (instruments or {}).get(iid) or default_instrument(iid) for iid in batches}
    execution = execution or ExecutionConfig()
    bus = bus or MessageBus()
    ledger = Ledger(execution.cash, specs)
    make_broker = broker or simulated_broker(execution)
    venue = make_broker(specs, bus.publish, ledger)
    first = min(int(b.ts[0]) for b in batches.values())
    loop = AutonomousTradingLoop(
        strategy=strategy,
        instruments=list(specs.values()),
        timeframe=next(iter(batches.values())).timeframe,
        broker=venue,
        ledger=ledger,
        bus=bus,
        clock=SimulatedClock(first),
        config=engine,
        risk=risk,
        portfolio=portfolio,
    )
    for iid, batch in batches.items():
        loop.load_history(batch, None if predictions is None else predictions.get(iid))
    loop.start()
    with gc_paused():
        if len(batches) == 1:
            _drive_one(loop, len(next(iter(batches.values()))), progress)
        else:
            _drive_many(loop, list(batches.values()), progress)
    if close_at_end and loop.state is not LoopState.STOPPED:
        close_positions_at_end(loop, venue, batches)
    loop.stop("end of data")
    curve = loop.equity_curve()
    result = BacktestResult(
        strategy=strategy.name,
        params=strategy.param_values(),
        ts=curve.ts,
        equity=curve.equity,
        cash=curve.cash,
        positions=curve.positions,
        prices=curve.prices,
        fills=ledger.fills(),
        trades=ledger.trades(),
        orders=list(loop.orders.values()),
        events=list(loop.notable),
        stats=loop.stats,
        initial_cash=execution.cash,
        fees=ledger.fees,
        plots={iid: loop.context(iid).plotted() for iid in batches},
    )
    loop.close()
    return result


CLOSE_AT_END_TAG = "close at end"


def close_positions_at_end(
    loop: AutonomousTradingLoop, broker: Broker, batches: Mapping[InstrumentId, BarBatch]
) -> None:
    """Flatten every position on its instrument's last bar, as backtesting.py's
    ``finalize_trades`` does.

    Orders still working after the last bar are cancelled (there is no next bar to fill them).
    Each position gets a market order for its opposite (through the risk gate, like any order),
    filled at the price the fill model gives the last bar: its open under ``next_open`` (what
    backtesting.py uses: its last broker pass re-runs the last bar's open), its close under
    ``close``. The fills land on the last bar, so the final equity is cash. A broker that is
    not shown bars (:meth:`~neo.execution.broker.Broker.bar_hooks` is ``None``) fills the
    closing orders at its own market.
    """
    hooks = broker.bar_hooks()
    broker.cancel_all(reason="end of data")
    for iid, batch in batches.items():
        quantity = loop.ledger.position(iid)
        if quantity == 0.0:
            continue
        last = len(batch) - 1
        ts = int(batch.ts[last])
        loop.submit(
            Order(
                id=next_order_id(),
                instrument=iid,
                side=Side.SELL if quantity > 0 else Side.BUY,
                quantity=abs(quantity),
                created_ns=ts,
                updated_ns=ts,
                tag=CLOSE_AT_END_TAG,
            )
        )
        if hooks is None:
            continue
        bar = batch.ts[last], batch.open[last], batch.high[last], batch.low[last]
        close, volume = float(batch.close[last]), float(batch.volume[last])
        hooks.on_open(iid, int(bar[0]), float(bar[1]), float(bar[2]), float(bar[3]),
                      close, volume)  # fmt: skip
        if hooks.on_close is not None:  # close mode: volume as given to on_open at this ts
            hooks.on_close(iid, ts, close)


ENGINES = ("event", "fast")


def has_vector_form(strategy: Strategy) -> bool:
    """Whether the strategy states its targets as arrays (it can run on the fast path)."""
    return type(strategy).vector_targets is not Strategy.vector_targets


def check_job(strategy: Strategy, engine: str, instruments: int, *, has_predictions: bool) -> None:
    """Refuse, before any data is read, a backtest that could not do what was asked.

    A strategy that trades on forecasts gets none without predictions (it would make no order
    at all); the fast path needs a vector form, and all-equity sizing there one instrument.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown --engine {engine!r}: use event or fast")
    if strategy.needs_predictions and not has_predictions:
        raise ConfigError(
            f"{strategy.name} trades on model forecasts: give --predictions FILE "
            "(e.g. from `neo train --predictions-out`)"
        )
    if strategy.sizing.needs_forecast and not has_predictions:
        raise ConfigError(
            f"size={strategy.sizing} sizes by the model's forecast: give --predictions FILE "
            "or choose another size (see docs/strategies.md)"
        )
    if engine != "fast":
        return
    problem = strategy.fast_path_problem(instruments)
    if problem:
        raise ConfigError(problem)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of a run.

    The loop allocates orders, events and fills that form no reference cycles, yet every
    allocation counts towards the collector's thresholds, and each full collection walks the
    whole growing heap: ~25 % of a 1 M bar run's time, and a slowdown that grows with the run.
    Reference counting still frees everything as usual; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.collect()  # what earlier runs left in cycles, so it is not carried through this one
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drive_one(loop: AutonomousTradingLoop, n: int, progress: Callable[[int], None] | None) -> None:
    on_bar = loop.on_bar
    chunk = _progress_chunk(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        for i in range(start, stop):
            on_bar(0, i)
        if progress is not None:
            progress(stop - start)
        if loop.state is LoopState.STOPPED:  # e.g. too many strategy failures
            break


def _drive_many(
    loop: AutonomousTradingLoop,
    batches: Sequence[BarBatch],
    progress: Callable[[int], None] | None,
) -> None:
    """Bars of all instruments in time order; risk and portfolio run once per time step."""
    loop.step_per_bar = False
    ts = np.concatenate([b.ts for b in batches])
    which = np.concatenate([np.full(len(b), k, dtype=np.int64) for k, b in enumerate(batches)])
    index = np.concatenate([np.arange(len(b), dtype=np.int64) for b in batches])
    order = np.lexsort((which, ts))
    ts_sorted = ts[order].tolist()
    which_sorted = which[order].tolist()
    index_sorted = index[order].tolist()
    total = len(ts_sorted)
    on_bar = loop.on_bar
    chunk = _progress_chunk(total)
    done = 0
    for position in range(total):
        on_bar(which_sorted[position], index_sorted[position])
        step_ts = ts_sorted[position]
        if position + 1 == total or ts_sorted[position + 1] != step_ts:
            loop.end_step(step_ts)
        done += 1
        if progress is not None and done == chunk:
            progress(done)
            done = 0
    if progress is not None and done:
        progress(done)
