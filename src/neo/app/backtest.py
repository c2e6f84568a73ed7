"""The backtest use case: read bars, run the engine, compute the metrics, write the report.

``run_backtest_job`` returns what ``neo backtest --json`` prints and what ``POST /v1/jobs``
(kind backtest) stores as the job's result, so library users, the CLI and the REST API get the
same figures. The helpers here (execution overrides, risk layers, allocator) are shared with
the paper session use case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neo.app.formats import metrics_json, stamp, times_as_iso
from neo.app.selection import instruments_of, parse_window, resolve_timeframe
from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.trade import Trade
from neo.execution.config import ExecutionConfig
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.analytics.metrics import PerformanceMetrics
    from neo.domain.fill import Fill
    from neo.domain.instrument import Instrument
    from neo.engine.backtest import BacktestResult
    from neo.portfolio.constructor import AllocatorPortfolio
    from neo.risk import PreTradeRiskGate, RiskConfig
    from neo.strategies.base import Strategy

Advance = Callable[[float], None]
ProgressFactory = Callable[[str, float], AbstractContextManager[Advance]]
"""``progress(description, total)`` → a context yielding ``advance(n)`` (a CLI progress bar)."""


@contextmanager
def no_progress(description: str, total: float) -> Iterator[Advance]:
    """No progress display (the REST API's jobs, library calls)."""

    def advance(amount: float = 1.0) -> None:
        return None

    yield advance


def execution_config(
    settings: NeoSettings,
    *,
    fill: str | None,
    fees_bps: float | None,
    slippage_bps: float | None,
    cash: float | None,
) -> ExecutionConfig:
    """The configured fill model with the command-line overrides applied and validated."""
    overrides = {
        key: value
        for key, value in (
            ("fill", fill),
            ("fees_bps", fees_bps),
            ("slippage_bps", slippage_bps),
            ("cash", cash),
        )
        if value is not None
    }
    try:
        return ExecutionConfig(**{**settings.execution.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid execution settings: {problems}") from None


def read_predictions(
    path: Path, batches: Mapping[InstrumentId, BarBatch]
) -> dict[InstrumentId, FloatArray]:
    """Predictions per instrument aligned to its bars by exact ``ts`` (NaN where none).

    ``symbol`` may be ``BTC/USDT@venue`` (as ``neo train`` writes it) or a bare symbol.
    """
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"--predictions {path} does not exist")
    try:
        frame = (
            pd.read_parquet(path)
            if path.suffix.lower() in (".parquet", ".pq")
            else (pd.read_csv(path))
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--predictions {path} is unreadable: {exc}") from None
    missing = {"ts", "symbol", "prediction"} - set(frame.columns)
    if missing:
        raise ConfigError(
            f"--predictions {path} lacks columns {sorted(missing)}; expected ts, symbol, "
            "prediction (as `neo train --predictions-out` writes)"
        )
    ts = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]").astype("int64")
    # Strategies read signed forecasts; `neo train` writes them beside the raw model output.
    column = "forecast" if "forecast" in frame.columns else "prediction"
    out: dict[InstrumentId, FloatArray] = {}
    for iid, batch in batches.items():
        mine = frame["symbol"].isin([str(iid), iid.symbol]).to_numpy()
        series = pd.Series(frame[column].to_numpy(np.float64)[mine], index=ts[mine])
        series = series[~series.index.duplicated(keep="last")]
        out[iid] = series.reindex(np.asarray(batch.ts)).to_numpy(np.float64)
    return out


def trade_row(trade: Trade) -> dict[str, Any]:
    return {
        "instrument": str(trade.instrument),
        "quantity": trade.quantity,
        **stamp("entry_ts", trade.entry_ts),
        **stamp("exit_ts", trade.exit_ts),
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "fees": trade.fees,
        "pnl": trade.pnl,
    }


def run_backtest_job(
    settings: NeoSettings,
    chosen: Strategy,
    ids: list[InstrumentId],
    frame: Timeframe,
    window: tuple[int | None, int | None],
    config: ExecutionConfig,
    *,
    predictions: Path | None = None,
    report: Path | None = None,
    allocator: str | None = None,
    risk: Path | None = None,
    engine: str = "event",
    close_at_end: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Read bars from the store, run the backtest, compute metrics, write the report; return
    what ``neo backtest --json`` prints (``neo demo`` runs the same job).

    ``engine`` is ``event`` (the trading loop) or ``fast`` (the compiled kernel, same fills;
    refused for strategies without a vector form and with a risk gate or an allocator).

    ``allocator`` puts the portfolio layer between the strategy and execution (the strategy's
    wishes become forecasts the allocator sizes); ``risk`` puts the pre-trade gate and the kill
    switch in front of every order. Without them the ``[portfolio]`` and ``[risk]`` tables of
    neo.toml apply when configured. A backtest keeps the kill switch's state in memory so one
    run's halt never blocks the next. ``progress`` (the CLI's progress bar) is told how many
    bars are done.
    """
    from neo.analytics import write_report
    from neo.analytics.report import engine_event_rows, risk_event_rows
    from neo.data.store import HistoricalDataStore
    from neo.engine.backtest import check_job, run_backtest
    from neo.engine.instruments import configured_instrument

    check_job(chosen, engine, len(ids), has_predictions=predictions is not None)
    # Bad --allocator / --risk input fails before any data is read.
    risk_config = risk_config_of(settings, risk)
    allocator = allocator_of(settings, allocator)

    store = HistoricalDataStore.from_settings(settings)
    try:
        batches = store.read_many(ids, frame, *window)
    finally:
        store.close()
    total = sum(len(b) for b in batches.values())
    forecasts = None if predictions is None else read_predictions(predictions, batches)
    if forecasts is not None and not any(np.isfinite(f).any() for f in forecasts.values()):
        raise ConfigError(
            f"--predictions {predictions} has no forecast for the selected bars: check its "
            "symbols and time range against --symbols/--start/--end"
        )
    specs = {iid: configured_instrument(iid, settings.instruments) for iid in batches}
    gate, book = risk_layers(settings, specs, risk_config, allocator, data_dir=None)
    if engine == "fast" and (gate is not None or book is not None):
        raise ConfigError(
            "--engine fast has no risk gate or allocator: drop --risk/--allocator (and the "
            "[risk]/[portfolio] tables of neo.toml) or use --engine event"
        )
    with (progress or no_progress)(f"backtest {chosen.name}", total) as advance:
        if engine == "fast":
            from neo.engine.fast import fast_backtest  # numba: only the fast path loads it

            result = fast_backtest(
                chosen,
                batches,
                instruments=specs,
                execution=config,
                predictions=forecasts,
                close_at_end=close_at_end,
            )
            advance(total)
        else:
            result = run_backtest(
                chosen,
                batches,
                instruments=specs,
                execution=config,
                engine=settings.engine,
                risk=gate,
                portfolio=book,
                predictions=forecasts,
                progress=advance,
                close_at_end=close_at_end,
            )
    risk_events = risk_event_rows(result.events, gate, book)
    metrics, benchmark, held = analyse_backtest(result, specs, frame)
    allocation = None
    if book is not None:  # why little or nothing was allocated; library warnings, counted
        book.diagnostics.log_summary(mean_exposure=metrics.exposure)
        allocation = book.diagnostics.to_dict(mean_exposure=metrics.exposure)
    written = None
    if report is not None:
        written = write_report(
            report,
            title=f"NEO backtest: {chosen.name} on {', '.join(str(i) for i in ids)} {frame}",
            ts=result.ts,
            equity=result.equity,
            metrics=metrics,
            prices={str(iid): (b.ts, b.close) for iid, b in batches.items()},
            positions=held,
            trades=result.trades,
            weights=None if book is None else weights_over_time(book.history, result.ts),
            risk_events=risk_events,
            engine_events=engine_event_rows(result.events),
            benchmark=benchmark,
            indicators={str(iid): plots for iid, plots in result.plots.items()},
            notes=allocation_notes(allocation),
        )
    return {
        "strategy": chosen.name,
        "engine": engine,
        "version": chosen.version,
        "params": chosen.param_values(),
        "instruments": [str(i) for i in ids],
        "timeframe": str(frame),
        "bars": total,
        **stamp("first_ts", int(result.ts[0])),
        **stamp("last_ts", int(result.ts[-1])),
        "initial_cash": result.initial_cash,
        "final_equity": result.final_equity,
        "fees": result.fees,
        "orders": len(result.orders),
        "fills": len(result.fills),
        "strategy_failures": result.stats.strategy_failures,
        "metrics": metrics_json(metrics),
        "report": written,
        "trades": [trade_row(t) for t in result.trades],
        "open_positions": open_lot_rows(result.fills, result),
        "closed_at_end": close_at_end,
        "allocator": allocator,
        "rebalances": None if book is None else len(book.history),
        "allocation": allocation,
        "risk_denials": {} if gate is None else dict(gate.counters),
        "risk_events": [times_as_iso(row) for row in risk_events],
        "kill_switch_engagements": 0 if gate is None else gate.engagements,
    }


def allocation_notes(allocation: Mapping[str, Any] | None) -> list[str]:
    """The allocation diagnostics as sentences for the report."""
    if not allocation:
        return []
    warned = [
        f"{row['category']} raised {row['count']} times during allocation: {row['message']} "
        f"({row['action']})"
        for row in allocation["library_warnings"]
    ]
    return [*allocation["notes"], *warned]


def analyse_backtest(
    result: BacktestResult, specs: Mapping[InstrumentId, Instrument], frame: Timeframe
) -> tuple[PerformanceMetrics, FloatArray, dict[str, FloatArray]]:
    """The run's metrics (against buy-and-hold of what it traded), that benchmark curve, and
    each instrument's signed share of equity per step."""
    from neo.analytics import compute_metrics, observed_periods_per_year
    from neo.analytics.benchmark import buy_and_hold
    from neo.analytics.report import held_weights

    benchmark = buy_and_hold(result.initial_cash, {str(k): p for k, p in result.prices.items()})
    held = held_weights(
        result.equity,
        {str(iid): p for iid, p in result.positions.items()},
        {str(iid): p for iid, p in result.prices.items()},
        {str(iid): spec.contract_multiplier for iid, spec in specs.items()},
    )
    metrics = compute_metrics(
        result.ts,
        result.equity,
        trades=result.trades,
        exposure=result.exposure,
        traded_notional=result.traded_notional,
        periods_per_year=observed_periods_per_year(result.ts, frame.periods_per_year),
        benchmark=benchmark,
    )
    return metrics, benchmark, held


def open_lot_rows(
    fills: Sequence[Fill], result: BacktestResult | None = None
) -> list[dict[str, Any]]:
    """Lots still open at the end (FIFO, as the trade list matches them): what the trade list
    of closed round trips leaves out. With the run's ``result`` each lot is marked to its
    instrument's last close (``mark_price``, ``unrealized_pnl`` before exit fees), as the
    final equity is."""
    from neo.execution.ledger import TradeMatcher

    matchers: dict[InstrumentId, TradeMatcher] = {}
    for fill in fills:
        matcher = matchers.setdefault(fill.instrument, TradeMatcher())
        if fill.position_delta:  # the ledger's rule: lots hold what the account received
            matcher.add(fill.position_delta, fill.price, fill.fee, fill.ts)
    rows = []
    for iid, matcher in matchers.items():
        for quantity, price, ts, _ in matcher.open_lots():
            row: dict[str, Any] = {"instrument": str(iid), "quantity": quantity}
            row.update(stamp("entry_ts", ts), entry_price=price)
            if result is not None and iid in result.prices and len(result.prices[iid]):
                mark = float(result.prices[iid][-1])
                row.update(mark_price=mark, unrealized_pnl=quantity * (mark - price))
            rows.append(row)
    return rows


def risk_config_of(settings: NeoSettings, risk: Path | None) -> RiskConfig | None:
    """The risk configuration of a run: ``--risk FILE`` wins, else the ``[risk]`` table of
    neo.toml (or ``NEO_RISK__*``) when one is configured, else none (no gate)."""
    from neo.risk import load_risk_config

    if risk is not None:
        return load_risk_config(risk)
    return settings.risk if "risk" in settings.model_fields_set else None


def allocator_of(settings: NeoSettings, allocator: str | None) -> str | None:
    """The allocator of a run: ``--allocator NAME`` wins, else ``portfolio.allocator`` when a
    ``[portfolio]`` table is configured, else none; an unknown name fails here, early."""
    from neo.portfolio import create_allocator

    if allocator is None and "portfolio" in settings.model_fields_set:
        allocator = settings.portfolio.allocator
    if allocator is not None:
        create_allocator(allocator)
    return allocator


def risk_layers(
    settings: NeoSettings,
    specs: Mapping[InstrumentId, Instrument],
    risk_config: RiskConfig | None,
    allocator: str | None,
    *,
    data_dir: Path | None,
    keep_basis: bool = True,
) -> tuple[PreTradeRiskGate | None, AllocatorPortfolio | None]:
    """The risk gate and portfolio constructor of a run (either may be None).

    With ``data_dir`` the gate uses the kill switch of the paper account there, shared by
    every session trading it: paper (and live) pass ``settings.data_dir`` so a halt survives
    restarts and stops every session until ``neo risk reset``. Backtests pass None: each
    replays history on its own simulated account, so one run's halt or peak must not leak
    into the next. Paper passes ``keep_basis=False``: its simulated account starts afresh each
    session, so the halt is shared but the drawdown and daily basis are the session's own (a
    live account, which persists at the exchange, keeps both).
    """
    from neo.portfolio import build_portfolio
    from neo.risk import build_risk_gate

    gate = (
        None
        if risk_config is None
        else build_risk_gate(risk_config, data_dir, specs, keep_basis=keep_basis)
    )
    book = None if allocator is None else build_portfolio(allocator, settings.portfolio, specs)
    return gate, book


def weights_over_time(
    history: Sequence[tuple[int, Mapping[InstrumentId, float]]], ts: IntArray
) -> dict[str, FloatArray]:
    """Per-bar weights from the rebalance log: each rebalance holds until the next one
    (0 before the first)."""
    instruments = sorted({iid for _, weights in history for iid in weights})
    out = {str(iid): np.zeros(len(ts)) for iid in instruments}
    stamps = np.asarray(ts, dtype=np.int64)
    for when, weights in history:
        start = int(np.searchsorted(stamps, when, "left"))
        for iid, weight in weights.items():
            out[str(iid)][start:] = weight
    return out


class BacktestRequest(BaseModel):
    """One backtest as both front ends describe it (the CLI's flags, a job's JSON body).

    ``params`` are ``name=value`` strings (``--param``); ``symbols`` is comma-separated.
    The path fields (``report``, ``predictions``, ``risk``) name files of the machine that
    runs the job; the REST API does not accept them from clients.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str | None = None
    params: list[str] = Field(default_factory=list)
    venue: str | None = None
    symbols: str | None = None
    symbol: str | None = None
    timeframe: str | None = None
    start: str | None = None
    end: str | None = None
    fill: str | None = None
    fees_bps: float | None = None
    slippage_bps: float | None = None
    cash: float | None = None
    allocator: str | None = None
    engine: str = "event"
    close_at_end: bool = False
    report: Path | None = None
    predictions: Path | None = None
    risk: Path | None = None


def backtest(
    settings: NeoSettings, request: BacktestRequest, *, progress: ProgressFactory | None = None
) -> dict[str, Any]:
    """The backtest use case: select, build, run, measure (``neo backtest``, job kind backtest)."""
    from neo.strategies.registry import configured_strategy

    ids = instruments_of(settings, request.venue, request.symbols, request.symbol)
    return run_backtest_job(
        settings,
        configured_strategy(settings, request.strategy, request.params or None),
        ids,
        resolve_timeframe(settings, request.timeframe, ids, "1m"),
        parse_window(request.start, request.end),
        execution_config(
            settings,
            fill=request.fill,
            fees_bps=request.fees_bps,
            slippage_bps=request.slippage_bps,
            cash=request.cash,
        ),
        predictions=request.predictions,
        report=request.report,
        allocator=request.allocator,
        risk=request.risk,
        engine=request.engine,
        close_at_end=request.close_at_end,
        progress=progress,
    )
