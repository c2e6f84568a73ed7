"""CLI commands of the engine: ``neo backtest`` and ``neo paper``.

Thin shells over :mod:`neo.engine`: parse the shared flags, build the strategy and the fill
model, run, print one result (``--json``: one object on stdout; progress and status on stderr).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neo.app.backtest import (
    BacktestRequest,
    backtest,
)
from neo.app.backtest import allocation_notes as allocation_notes
from neo.app.backtest import allocator_of as allocator_of
from neo.app.backtest import analyse_backtest as analyse_backtest
from neo.app.backtest import execution_config as execution_config
from neo.app.backtest import open_lot_rows as open_lot_rows
from neo.app.backtest import read_predictions as read_predictions
from neo.app.backtest import risk_config_of as risk_config_of
from neo.app.backtest import risk_layers as risk_layers
from neo.app.backtest import run_backtest_job as run_backtest_job
from neo.app.backtest import trade_row as trade_row
from neo.app.backtest import weights_over_time as weights_over_time
from neo.app.selection import SIMULATED_DEFAULT_SYMBOL as SIMULATED_DEFAULT_SYMBOL
from neo.app.selection import instruments_of as instruments_of
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
    parse_symbols,
    parse_time,
    parse_timeframe,
    parse_window,
    progress_bar,
    resolve_timeframe,
    settings_of,
    telemetry_hook,
    times_as_iso,
)
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_ns
from neo.engine.bus import MessageBus
from neo.settings import NeoSettings

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


_instruments = instruments_of  # what `neo strategies check` selects with the same flags


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
    request = BacktestRequest(
        strategy=strategy, params=param or [], venue=venue, symbols=symbols, symbol=symbol,
        timeframe=timeframe, start=start, end=end, fill=fill, fees_bps=fees_bps,
        slippage_bps=slippage_bps, cash=cash, report=report, predictions=predictions,
        allocator=allocator, risk=risk, engine=engine, close_at_end=close_at_end,
    )  # fmt: skip
    payload = backtest(settings_of(ctx), request, progress=progress_bar)
    emit(payload, as_json, lambda: _print_backtest(payload))


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
        str,
        typer.Option(
            "--feed",
            help="simulated (seeded random bars), replay (the store) or exchange:<ccxt id> "
            "(the exchange's live bars; no keys are loaded).",
        ),
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
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            help="Run a durable session of this name: its bars, orders, fills and a checkpoint "
            "per step are journaled in <data-dir>/sessions/NAME, and starting it again resumes "
            "it after a crash (docs/live.md). --cycles then counts the session's bars in all. "
            "With --bus redis it names the consumer group instead (a restart resumes there), "
            "and it labels the session's metrics.",
        ),
    ] = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            help="With --feed exchange:<id>: base URL of its API (e.g. `neo exchange-sim`).",
        ),
    ] = None,
    bus: Annotated[
        str,
        typer.Option(
            "--bus",
            help="memory (default: bars from --feed in this process) or redis (bars another "
            "process publishes, e.g. `neo ingest --publish`, from the Redis streams at "
            "redis.url / NEO_REDIS__URL; acknowledged after each cycle, so a restart resumes "
            "where it stopped).",
        ),
    ] = "memory",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while it runs.",
            min=1,
            max=65535,
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            help="Address of the --metrics-port server (default 127.0.0.1; 0.0.0.0 in a "
            "container, so that Prometheus can scrape it).",
        ),
    ] = "127.0.0.1",
    as_json: JsonOpt = False,
) -> None:
    """Paper-trade a strategy on a feed with the simulated broker."""
    from neo.engine.instruments import configured_instrument
    from neo.engine.paper import run_paper
    from neo.risk import HALT_ONLY
    from neo.strategies.registry import configured_strategy

    settings = settings_of(ctx)
    _check_bus(bus, feed)
    if feed.startswith("exchange:"):
        from neo.cli.live import DEFAULT_WARMUP, paper_on_exchange

        summary = paper_on_exchange(
            settings, feed.partition(":")[2], symbols=parse_symbols(symbols, symbol),
            timeframe=timeframe or "1m",
            strategy=configured_strategy(settings, strategy, param),
            execution=execution_config(settings, fill=fill, fees_bps=fees_bps,
                                       slippage_bps=slippage_bps, cash=cash),
            session=session, cycles=cycles, url=exchange_url, warmup=DEFAULT_WARMUP,
            predictor=None,
        )  # fmt: skip
        emit(summary, as_json)
        return
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
    if bus == "redis":
        source = redis_feed(settings, ids, frame, cycles, session or "paper")
        cycles = None  # the feed ends after --cycles bars, once the last is acknowledged
    else:
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
    on_loop, stop_metrics = session_metrics(session or "paper", metrics_port, metrics_host)
    if session is not None and bus == "memory":
        from neo.cli.live import run_paper_session

        try:
            summary = run_paper_session(
                settings, session, chosen, source, specs, config, risk=gate, portfolio=book,
                predictor=predictor, cycles=cycles, timer=timer, on_loop=on_loop,
            )  # fmt: skip
        finally:
            stop_metrics()
        emit(summary, as_json)
        return
    with paper_notifications(settings, list(specs), source.timeframe) as message_bus:
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
                    on_loop=on_loop,
                    bus=message_bus,
                )
            )
        except KeyboardInterrupt:  # pragma: no cover - interactive only
            raise typer.Exit(code=130) from None
        finally:
            stop_metrics()
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


@contextmanager
def paper_notifications(
    settings: NeoSettings, instruments: list[InstrumentId], timeframe: Timeframe
) -> Iterator[MessageBus]:
    """The bus of a paper session, with the configured webhooks attached; closed at the end
    (queued messages get a moment to go out)."""
    from neo.notify import attach_to_bus

    message_bus = MessageBus()
    notifier = attach_to_bus(
        message_bus, instruments, timeframe.nanos, settings.notifications,
        on_outcome=telemetry_hook("webhook_delivered"),
    )  # fmt: skip
    try:
        yield message_bus
    finally:
        if notifier is not None:
            notifier.close(timeout=5.0)


def _check_bus(bus: str, feed: str) -> None:
    if bus not in ("memory", "redis"):
        raise ConfigError(f"unknown --bus {bus!r}: use memory or redis")
    if bus == "redis" and feed != "simulated":
        raise ConfigError("--bus redis reads its bars from Redis: drop --feed")


def redis_feed(
    settings: NeoSettings,
    ids: list[InstrumentId],
    frame: Timeframe,
    cycles: int | None,
    session: str,
) -> Any:
    """The ``--bus redis`` feed: the session's consumer group on its instruments' streams."""
    if not settings.redis.url:
        raise ConfigError(
            "--bus redis needs a Redis server: set redis.url in neo.toml or NEO_REDIS__URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    try:
        from neo.service.redis_bus import RedisBarFeed
    except ImportError as exc:  # pragma: no cover - the service extra is missing
        raise ConfigError(
            f"--bus redis needs redis-py ({exc}): pip install 'neo-trading[service]'"
        ) from None
    return RedisBarFeed(settings.redis.url, ids, frame, group=session, limit=cycles)


def session_metrics(
    session: str, port: int | None, host: str = "127.0.0.1"
) -> tuple[Callable[[Any], None] | None, Callable[[], None]]:
    """``--metrics-port``: an ``on_loop`` hook attaching the session's metrics, and a function
    stopping the metrics server (both no-ops without a port)."""
    if port is None:
        return None, lambda: None
    try:
        from neo.service.telemetry import attach_session_metrics, start_metrics_server
    except ImportError as exc:  # pragma: no cover - the service extra is missing
        raise ConfigError(
            f"--metrics-port needs prometheus-client ({exc}): pip install 'neo-trading[service]'"
        ) from None
    try:
        stop = start_metrics_server(port, host)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({exc}); "
            "choose another --metrics-port or --metrics-host"
        ) from None

    def attach(loop: Any) -> None:
        attach_session_metrics(loop, session)

    return attach, stop


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
