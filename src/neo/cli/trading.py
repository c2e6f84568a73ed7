"""CLI commands of the engine: ``neo backtest`` and ``neo paper``.

Thin shells over :mod:`neo.engine`: parse the shared flags, build the strategy and the fill
model, run, print one result (``--json``: one object on stdout; progress and status on stderr).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from neo.cli.common import (
    EndOpt,
    JsonOpt,
    StartOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    VenueOpt,
    emit,
    human_value,
    metric_rows,
    metrics_json,
    parse_symbols,
    parse_time,
    parse_timeframe,
    parse_window,
    progress_bar,
    resolve_timeframe,
    settings_of,
    stamp,
    times_as_iso,
)
from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_ns
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

StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help="Strategy: a name (see `neo strategies list`), path/to/file.py:ClassName or "
        "package.module:ClassName.",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="Strategy parameter as name=value; repeat for several. size=equity|fraction:F|"
        "units:N|vol:T|atr:R|kelly:K sizes any strategy (docs/strategies.md).",
    ),
]
FillOpt = Annotated[
    str | None, typer.Option("--fill", help="Market orders fill at next_open (default) or close.")
]
FeesOpt = Annotated[
    float | None, typer.Option("--fees-bps", help="Fee in bps of notional for every fill.")
]
SlippageOpt = Annotated[
    float | None, typer.Option("--slippage-bps", help="Slippage against the taker, in bps.")
]
CashOpt = Annotated[float | None, typer.Option("--cash", help="Starting cash (quote currency).")]


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


SIMULATED_DEFAULT_SYMBOL = "BTC/USDT"
"""What ``neo paper --feed simulated`` trades when no --symbols are given."""


def _instruments(
    settings: NeoSettings, venue: str | None, symbols: str | None, symbol: str | None
) -> list[InstrumentId]:
    names = parse_symbols(symbols, symbol)
    if not names:
        raise ConfigError("select what to trade with --symbols A,B or --symbol A")
    where = venue or settings.data.default_venue
    return [InstrumentId(where, name) for name in names]


instruments_of = _instruments  # what `neo strategies check` selects with the same flags


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


def backtest_command(
    ctx: typer.Context,
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    venue: VenueOpt = None,
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = None,
    fees_bps: FeesOpt = None,
    slippage_bps: SlippageOpt = None,
    cash: CashOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            help="Walk-forward predictions (CSV/Parquet: ts, symbol, forecast or prediction), "
            "e.g. from `neo train --predictions-out`; read by strategies as ctx.prediction "
            "(signed: > 0 expects a rise).",
        ),
    ] = None,
    allocator: Annotated[
        str | None,
        typer.Option(
            "--allocator",
            help="Size positions with a portfolio allocator: equal_weight, inverse_volatility, "
            "min_variance, max_sharpe, target_volatility, risk_parity, hrp, kelly.",
        ),
    ] = None,
    risk: Annotated[
        Path | None,
        typer.Option(
            "--risk",
            help="Risk limits TOML: pre-trade checks and the kill switch (kept in memory: a "
            "backtest's halt does not carry over). Units: *_notional and max_gross_exposure "
            "in quote currency, *_pct as fractions (0.05 = 5 %), max_leverage as gross "
            "exposure / equity.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="event (the trading loop, default) or fast (the compiled kernel: same fills, "
            "for strategies with a vector form, without risk gate or allocator).",
        ),
    ] = "event",
    close_at_end: Annotated[
        bool,
        typer.Option(
            "--close-at-end",
            help="Close open positions on the last bar (as backtesting.py's finalize_trades), "
            "so every position is a closed trade; without it they stay open, marked to the "
            "last close, and are listed under open_positions.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Backtest a strategy on stored bars and print its metrics."""
    from neo.strategies.registry import configured_strategy

    settings = settings_of(ctx)
    ids = _instruments(settings, venue, symbols, symbol)
    payload = run_backtest_job(
        settings,
        configured_strategy(settings, strategy, param),
        ids,
        resolve_timeframe(settings, timeframe, ids, "1m"),
        parse_window(start, end),
        execution_config(
            settings, fill=fill, fees_bps=fees_bps, slippage_bps=slippage_bps, cash=cash
        ),
        predictions=predictions,
        report=report,
        allocator=allocator,
        risk=risk,
        engine=engine,
        close_at_end=close_at_end,
    )
    emit(payload, as_json, lambda: _print_backtest(payload))


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
) -> dict[str, Any]:
    """Read bars from the store, run the backtest, compute metrics, write the report; return
    what ``neo backtest --json`` prints (``neo demo`` runs the same job).

    ``engine`` is ``event`` (the trading loop) or ``fast`` (the compiled kernel, same fills;
    refused for strategies without a vector form and with a risk gate or an allocator).

    ``allocator`` puts the portfolio layer between the strategy and execution (the strategy's
    wishes become forecasts the allocator sizes); ``risk`` puts the pre-trade gate and the kill
    switch in front of every order. Without them the ``[portfolio]`` and ``[risk]`` tables of
    neo.toml apply when configured. A backtest keeps the kill switch's state in memory so one
    run's halt never blocks the next.
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
    with progress_bar(f"backtest {chosen.name}", total) as advance:
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
        matcher.add(fill.signed_quantity, fill.price, fill.fee, fill.ts)
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


def _print_backtest(payload: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"{payload['strategy']} {payload['params']}", show_header=False)
    for key in ("instruments", "timeframe", "fees", "orders", "fills"):
        table.add_row(key, human_value(key, payload[key]))
    table.add_row("trades", str(len(payload["trades"])))
    for label, text in metric_rows(payload["metrics"]):
        table.add_row(label, text)
    for lot in payload["open_positions"]:
        table.add_row(
            "open position",
            f"{lot['instrument']} {lot['quantity']:+g} since {lot['entry_ts']} @ "
            f"{lot['entry_price']:g}, marked to the last close",
        )
    if payload["report"]:
        table.add_row("report", str(payload["report"]))
    console.print(table)
    print_risk_note(payload)


def risk_note(payload: Mapping[str, Any]) -> str:
    """What the risk gate did, in words: denials counted by reason and the kill switch, so a
    run whose orders were all denied does not read as a quiet strategy ("" when nothing)."""
    denials: Mapping[str, int] = payload.get("risk_denials") or {}
    parts = []
    total = sum(denials.values())
    if total:
        by_reason = ", ".join(
            f"{code} {count}" for code, count in sorted(denials.items(), key=lambda kv: -kv[1])
        )
        parts.append(f"risk gate denied {total} order{'s' * (total != 1)} ({by_reason})")
    if payload.get("kill_switch_engaged") or payload.get("kill_switch_engagements"):
        parts.append(
            "kill switch engaged: new exposure halted until `neo risk reset --reason ...`"
            if "kill_switch_engaged" in payload
            else "kill switch engaged during the run"
        )
    return "; ".join(parts)


def print_risk_note(payload: Mapping[str, Any]) -> None:
    """Print :func:`risk_note` (when there is one) under a command's text output."""
    note = risk_note(payload)
    if note:
        Console().print(f"[bold yellow]{note}[/bold yellow]; details: --json risk_events")


def paper_command(
    ctx: typer.Context,
    strategy: StrategyOpt = None,
    param: ParamOpt = None,
    feed: Annotated[
        str, typer.Option("--feed", help="simulated (seeded random bars) or replay (the store).")
    ] = "simulated",
    speed: Annotated[
        float | None,
        typer.Option("--speed", help="Bars per second of wall time (default: as fast as it can)."),
    ] = None,
    cycles: Annotated[
        int | None, typer.Option("--cycles", help="Stop after this many bars.", min=1)
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated feed.")] = 7,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registered model id whose forecasts feed the strategy."),
    ] = None,
    venue: VenueOpt = None,
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = None,
    fees_bps: FeesOpt = None,
    slippage_bps: SlippageOpt = None,
    cash: CashOpt = None,
    allocator: Annotated[
        str | None,
        typer.Option(
            "--allocator",
            help="Size positions with a portfolio allocator (as for `neo backtest`); default: "
            "\\[portfolio] allocator of neo.toml when configured.",
        ),
    ] = None,
    risk: Annotated[
        Path | None,
        typer.Option(
            "--risk",
            help="Risk limits TOML (default: \\[risk] of neo.toml when configured); units: "
            "*_notional and max_gross_exposure in quote currency, *_pct as fractions (0.05 = "
            "5 %), max_leverage as gross exposure / equity. With or without it the session "
            "honours the paper account's kill switch (<data-dir>/accounts/paper): a halt "
            "stops it until `neo risk reset`.",
        ),
    ] = None,
    model_features: Annotated[
        bool,
        typer.Option(
            "--model-features",
            help="With --model: use the model's own feature spec even if \\[features] is "
            "configured.",
        ),
    ] = False,
    allow_in_sample: Annotated[
        bool,
        typer.Option(
            "--allow-in-sample",
            help="With --model and --feed replay: allow a replay that starts before the end of "
            "the model's training data (its results are then flagged in_sample, not out of "
            "sample).",
        ),
    ] = False,
    timer: Annotated[
        float | None,
        typer.Option(
            "--timer",
            help="Also run a risk and portfolio cycle every this many wall-clock seconds, so "
            "limits and the kill switch are checked while the feed is quiet.",
            min=0.001,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Paper-trade a strategy on a feed with the simulated broker."""
    from neo.engine.bus import MessageBus
    from neo.engine.instruments import configured_instrument
    from neo.engine.paper import run_paper
    from neo.notify import attach_to_bus
    from neo.risk import HALT_ONLY
    from neo.strategies.registry import configured_strategy

    settings = settings_of(ctx)
    if feed == "simulated" and not (symbols or symbol):
        symbols = SIMULATED_DEFAULT_SYMBOL  # a made-up market needs no choice of data
    ids = _instruments(settings, venue, symbols, symbol)
    frame = (
        resolve_timeframe(settings, timeframe, ids, "1m")
        if feed == "replay"
        else parse_timeframe(timeframe or "1m")
    )
    parse_window(start, end)  # an empty window fails before any I/O
    if speed is not None and speed <= 0:
        raise ConfigError(f"--speed must be > 0 bars per second, got {speed}")
    pace = None if speed is None else 1.0 / speed
    config = execution_config(
        settings, fill=fill, fees_bps=fees_bps, slippage_bps=slippage_bps, cash=cash
    )
    chosen = configured_strategy(settings, strategy, param)
    if chosen.sizing.needs_forecast and model is None:
        raise ConfigError(f"size={chosen.sizing} sizes by the model's forecast: give --model")
    risk_config = risk_config_of(settings, risk)  # bad --risk / --allocator fail before any I/O
    allocator = allocator_of(settings, allocator)
    predictor = None
    if model is not None:
        from neo.cli.models import configured_features
        from neo.engine.predictor import ModelPredictor, store_history

        predictor = ModelPredictor.from_registry(
            settings.data_dir / "models",
            model,
            features=None if model_features else configured_features(settings),
        )
        ids = predictor.prepare(ids, frame)  # markets fed, and first within each timestamp
    source = _feed(settings, feed, ids, frame, cycles, seed, pace, start, end)
    in_sample: int | None = None
    if predictor is not None and feed == "replay":
        predictor.history = store_history(source.store)  # warm up on bars before --start
        in_sample = _in_sample_start(source, predictor, allow_in_sample)
    specs = {iid: configured_instrument(iid, settings.instruments) for iid in source.instruments}
    gate, book = risk_layers(  # a fresh simulated account: the halt persists, not its basis
        settings,
        specs,
        risk_config or HALT_ONLY,  # without limits it still honours the account's halt
        allocator,
        data_dir=settings.data_dir,
        keep_basis=False,
    )
    bus = MessageBus()
    notifier = attach_to_bus(bus, list(specs), source.timeframe.nanos, settings.notifications)
    try:
        result = asyncio.run(
            run_paper(
                chosen,
                source,
                instruments=specs,
                execution=config,
                engine=settings.engine,
                risk=gate,
                portfolio=book,
                predictor=predictor,
                cycles=cycles,
                timer_s=timer,
                bus=bus,
            )
        )
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        raise typer.Exit(code=130) from None
    finally:
        if notifier is not None:
            notifier.close(timeout=5.0)  # queued messages get a moment to go out
    summary = result.summary()
    summary["risk_events"] = [times_as_iso(row) for row in summary["risk_events"]]
    if book is not None:
        book.diagnostics.log_summary()
        summary["allocation"] = book.diagnostics.to_dict()
    if predictor is not None:
        summary["in_sample"] = in_sample is not None
    emit(summary, as_json, lambda: _print_paper(summary))


def _print_paper(summary: dict[str, Any]) -> None:
    emit(summary, False)
    print_risk_note(summary)


def _in_sample_start(source: Any, predictor: Any, allowed: bool) -> int | None:
    """The first replayed bar at or before the model's training end (None: out of sample).

    Replaying bars the model learned from makes its forecasts look better than they can be:
    refused unless ``--allow-in-sample``, and then a warning on stderr and ``in_sample`` in
    the result say so.
    """
    from neo.cli.common import stderr_console

    end = predictor.training_end
    if end is None:
        return None
    stop = end + 1 if source.end_ns is None else min(source.end_ns, end + 1)
    if source.start_ns is not None and source.start_ns >= stop:
        return None
    batches = source.store.read_many(source.instruments, source.timeframe, source.start_ns, stop)
    firsts = [int(batch.ts[0]) for batch in batches.values() if len(batch)]
    if not firsts:
        return None
    first, trained = iso_ns(min(firsts)), iso_ns(end)
    if not allowed:
        raise ConfigError(
            f"the replay starts at {first}, before the end of model "
            f"{predictor.model_id}'s training data ({trained}): its forecasts there are in "
            f"sample; start after it (--start) or pass --allow-in-sample to run it flagged"
        )
    stderr_console.print(
        f"warning: in sample: the replay starts at {first}, before the end of the model's "
        f"training data ({trained}); these results are not out of sample"
    )
    return min(firsts)


def _feed(
    settings: NeoSettings,
    kind: str,
    ids: list[InstrumentId],
    frame: Any,
    cycles: int | None,
    seed: int,
    pace: float | None,
    start: str | None,
    end: str | None,
) -> Any:
    from neo.data.feeds import ReplayFeed, SimulatedMarketDataFeed

    if kind == "simulated":
        venues = {i.venue for i in ids}
        return SimulatedMarketDataFeed(
            [i.symbol for i in ids],
            frame,
            n_bars=cycles or 10_000,
            seed=seed,
            venue=venues.pop(),
            pace=pace,
        )
    if kind == "replay":
        from neo.data.store import HistoricalDataStore

        store = HistoricalDataStore.from_settings(settings)
        return ReplayFeed(
            store, ids, frame, start_ns=parse_time(start), end_ns=parse_time(end), pace=pace
        )
    raise ConfigError(f"unknown --feed {kind!r}: use simulated or replay")


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``paper`` to the root app."""
    app.command("backtest")(backtest_command)
    app.command("paper")(paper_command)
