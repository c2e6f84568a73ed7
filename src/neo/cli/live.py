"""Durable sessions from the command line: ``neo paper --session``, ``neo paper --feed
exchange:<id>`` and ``neo live``.

A named session keeps its journal in ``<data_dir>/sessions/<NAME>/`` and resumes where it
stopped when started again with the same settings (:mod:`neo.engine.live`). ``neo live`` sends
real orders: it refuses without ``--confirm-live``; ``--dry-run`` runs the same session on the
exchange's live data with the simulated broker and lists every order it would have sent
(docs/live.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from neo.app.live import (
    DEFAULT_WARMUP,
    build_live_session,
    exchange_feed,
    exchange_gate,
    mirrored_journal,
    public_market,
    run_and_close,
)
from neo.cli.common import (
    JsonOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    emit,
    parse_symbols,
    parse_timeframe,
    settings_of,
)
from neo.domain.errors import ConfigError
from neo.domain.events import OrderSubmitted
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.engine.loop import Predictor
from neo.engine.paper import Feed
from neo.execution.config import ExecutionConfig
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import RiskGate
from neo.settings import NeoSettings
from neo.strategies.base import Strategy

__all__ = ["DEFAULT_WARMUP", "live_command", "paper_on_exchange", "register", "run_paper_session"]


def run_paper_session(
    settings: NeoSettings,
    session: str,
    strategy: Strategy,
    feed: Feed,
    instruments: Mapping[InstrumentId, Instrument],
    execution: ExecutionConfig,
    *,
    risk: RiskGate | None,
    portfolio: PortfolioConstructor | None,
    predictor: Predictor | None,
    cycles: int | None,
    live_from_ns: int = 0,
    timer: float | None = None,
    on_loop: Callable[[Any], object] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the paper session ``session`` with the simulated broker; ``on_loop``
    sees its loop before the first step (``--metrics-port``)."""
    if timer is not None:
        raise ConfigError(
            "--timer cannot be used with --session: a restart re-executes the session's "
            "steps, and wall-clock cycles cannot be replayed"
        )
    journal = FileJournal(session_dir(settings.data_dir, session))
    try:
        runner = TradingSession(
            name=session,
            strategy=strategy,
            feed=feed,
            journal=journal,
            instruments=instruments,
            execution=execution,
            engine=settings.engine,
            risk=risk,
            portfolio=portfolio,
            predictor=predictor,
            cycles=cycles,
            live_from_ns=live_from_ns,
        )
        if on_loop is not None:
            on_loop(runner.loop)
        result = asyncio.run(runner.run())
    finally:
        journal.close()
    return result.summary()


def paper_on_exchange(
    settings: NeoSettings,
    exchange: str,
    *,
    symbols: list[str],
    timeframe: str,
    strategy: Strategy,
    execution: ExecutionConfig,
    session: str | None,
    cycles: int | None,
    url: str | None,
    warmup: int,
    predictor: Predictor | None,
) -> dict[str, Any]:
    """``neo paper --feed exchange:<id>``: the exchange's live bars, the simulated broker; no
    credentials are loaded (a public market data client only)."""
    if not symbols:
        raise ConfigError("select what to trade with --symbols A,B or --symbol A")
    instruments, now_ms = public_market(settings, exchange, url, symbols, timeframe)
    feed, live_from = exchange_feed(settings, exchange, url, symbols, timeframe, warmup, now_ms)
    gate = exchange_gate(settings, instruments, feed, keep_basis=False)
    name = session or f"paper-{exchange}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    journal = mirrored_journal(settings, name, sync=False)
    try:
        runner = TradingSession(
            name=name, strategy=strategy, feed=feed, journal=journal, instruments=instruments,
            execution=execution, engine=settings.engine, risk=gate, predictor=predictor,
            cycles=cycles, live_from_ns=live_from,
        )  # fmt: skip
        journal.ledger = runner.loop.ledger
        return asyncio.run(run_and_close(runner, feed))
    finally:
        journal.close()


def live_command(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", help="ccxt exchange id, e.g. binance.")],
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Strategy name or path (as for backtest).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Strategy parameter name=value.")
    ] = None,
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            help="Base URL of the exchange API, e.g. http://127.0.0.1:8765 of `neo "
            "exchange-sim` (default: exchanges.<id>.url, else the exchange itself).",
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", help="Session name: its journal; start it again to resume."),
    ] = None,
    account: Annotated[
        str, typer.Option("--account", help="Label of the exchange account (its kill switch).")
    ] = "main",
    warmup: Annotated[
        int, typer.Option("--warmup", help="Closed bars that warm the strategy up.", min=0)
    ] = DEFAULT_WARMUP,
    cycles: Annotated[
        int | None, typer.Option("--cycles", help="Stop after this many bars in all.", min=1)
    ] = None,
    cash: Annotated[
        float | None, typer.Option("--cash", help="Quote currency the session may commit.")
    ] = None,
    confirm_live: Annotated[
        bool, typer.Option("--confirm-live", help="Send real orders (required to trade).")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Send nothing: run on the live data with the simulated broker and list the "
            "orders it would have sent.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Trade a strategy on an exchange with real orders (docs/live.md)."""
    from neo.cli.trading import execution_config
    from neo.strategies.registry import configured_strategy

    if confirm_live and dry_run:
        raise ConfigError("--confirm-live and --dry-run exclude each other: choose one")
    if not (confirm_live or dry_run):
        raise ConfigError(
            f"neo live sends real orders to {exchange}: add --confirm-live to trade, or "
            "--dry-run to see what it would send (try it against `neo exchange-sim` first)"
        )
    settings = settings_of(ctx)
    names = parse_symbols(symbols, symbol)
    if not names:
        raise ConfigError("select what to trade with --symbols A,B or --symbol A")
    frame = timeframe or "1m"
    parse_timeframe(frame)
    chosen = configured_strategy(settings, strategy, param)
    config = execution_config(settings, fill=None, fees_bps=None, slippage_bps=None, cash=cash)
    if dry_run:
        summary = _dry_run(settings, exchange, exchange_url, names, frame, chosen, config,
                           warmup, cycles)  # fmt: skip
    else:
        summary = _live(settings, exchange, exchange_url, names, frame, chosen, config,
                        session, account, warmup, cycles)  # fmt: skip
    emit(summary, as_json)


def _dry_run(
    settings: NeoSettings, exchange: str, url: str | None, names: list[str], frame: str,
    strategy: Strategy, config: ExecutionConfig, warmup: int, cycles: int | None,
) -> dict[str, Any]:  # fmt: skip
    """The session on live data with the simulated broker; every order it decides is printed
    (stderr) and listed in the result. Keys are not loaded; nothing is journalled."""
    from neo.cli.common import stderr_console
    from neo.engine.journal import JournalState
    from neo.engine.live import order_record

    instruments, now_ms = public_market(settings, exchange, url, names, frame)
    feed, live_from = exchange_feed(settings, exchange, url, names, frame, warmup, now_ms)
    would: list[dict[str, Any]] = []

    class Nowhere:
        """A journal that keeps nothing (a dry run leaves no session behind)."""

        def load(self) -> JournalState:
            return JournalState()

        def start(self, meta: Any) -> None: ...
        def append_bar(self, k: int, bar: Any, stale: tuple[int, ...] = ()) -> None: ...
        def record_order(self, record: Any) -> None: ...
        def record_fill(self, record: Any) -> bool:
            return True

        def checkpoint(self, checkpoint: Any) -> None: ...
        def close(self) -> None: ...

    runner = TradingSession(
        name="dry-run", strategy=strategy, feed=feed, journal=Nowhere(), instruments=instruments,
        execution=config, engine=settings.engine, cycles=cycles, live_from_ns=live_from,
    )  # fmt: skip

    def show(event: Any) -> None:
        row = order_record(runner.recorder.cid_of(event.order.id) or "", event.order)
        line = {k: getattr(row, k) for k in ("cid", "instrument", "side", "type", "quantity",
                                              "limit_price", "stop_price")}  # fmt: skip
        would.append(line)
        stderr_console.print(f"would send: {line}")

    runner.bus.subscribe(OrderSubmitted, show)
    summary = asyncio.run(run_and_close(runner, feed))
    summary.update(mode="dry-run", would_send=would)
    return summary


def _live(
    settings: NeoSettings, exchange: str, url: str | None, names: list[str], frame: str,
    strategy: Strategy, config: ExecutionConfig, session: str | None, account: str,
    warmup: int, cycles: int | None,
) -> dict[str, Any]:  # fmt: skip
    """The durable live session (:func:`neo.app.live.build_live_session`), run to its end."""
    setup = build_live_session(
        settings, exchange, url, names, frame, strategy, config,
        session=session, account=account, warmup=warmup, cycles=cycles,
    )  # fmt: skip
    try:
        return asyncio.run(setup.run())
    finally:
        setup.close()


def register(app: typer.Typer) -> None:
    """Add ``live`` to the root app."""
    app.command("live")(live_command)
