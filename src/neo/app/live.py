"""Live sessions on an exchange, built once for ``neo live`` and ``POST /v1/sessions``
(``kind: live``): the keyed ccxt client and its instruments, the bar feed from the exchange's
clock, the account's kill switch with the feed's staleness, the journal mirrored into the
state database, and the websocket feed of the session's own fills.

Also the pieces ``neo paper --feed exchange:<id>`` and ``--dry-run`` share (a public client,
no keys). The CLI and the service call these, so the two cannot build a session differently.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neo.app.hooks import telemetry_hook
from neo.app.selection import parse_timeframe
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.engine.mirror import SqlMirror
from neo.execution.config import ExecutionConfig
from neo.risk.base import StalenessSource
from neo.risk.gate import PreTradeRiskGate
from neo.risk.killswitch import PAPER_ACCOUNT
from neo.settings import NeoSettings
from neo.strategies.base import Strategy

DEFAULT_WARMUP = 200
"""Closed bars fetched before a new session's first live bar, to warm its indicators up."""


def exchange_config(settings: NeoSettings, exchange: str, url: str | None) -> Any:
    """``[exchanges.<id>]`` with ``--exchange-url`` applied."""
    from neo.adapters.ccxt import ExchangeConfig

    config = settings.exchanges.get(exchange, ExchangeConfig())
    return config if url is None else config.model_copy(update={"url": url})


def exchange_market(
    settings: NeoSettings, exchange: str, url: str | None, symbols: list[str], *, keys: bool
) -> tuple[Any, dict[InstrumentId, Instrument]]:
    """A sync ccxt client (with keys only when ``keys``) and the instruments of ``symbols``."""
    from neo.adapters.ccxt import load_instruments, make_exchange

    config = exchange_config(settings, exchange, url)
    client = make_exchange(exchange, config, credentials=keys, observer=request_observer())
    return client, load_instruments(client, symbols)


def public_market(
    settings: NeoSettings, exchange: str, url: str | None, symbols: list[str], timeframe: str
) -> tuple[dict[InstrumentId, Instrument], int]:
    """The instruments of ``symbols`` and the exchange's clock (:func:`market_now_ms`), read
    with a public client (no keys) that is closed after."""
    client, instruments = exchange_market(settings, exchange, url, symbols, keys=False)
    try:
        return instruments, market_now_ms(client, symbols[0], timeframe)
    finally:
        close_client(client)


def request_observer() -> Any:
    """Exchange call latency and errors for the Prometheus metrics (None without them)."""
    return telemetry_hook("exchange_request_observed")


def stale_observer() -> Any:
    """``neo_data_stale`` / ``neo_data_staleness_seconds`` fed by the exchange feed's
    ``on_stale`` (None without the metrics)."""
    return telemetry_hook("data_staleness_observed")


def market_now_ms(client: Any, symbol: str, timeframe: str) -> int:
    """The open time of the exchange's newest (forming) bar: its market's clock, which a sim
    runs on its own path; our clock when it returns none."""
    try:
        rows = client.fetch_ohlcv(symbol, timeframe, None, 2)
    except Exception as raw:
        from neo.adapters.ccxt.errors import translate

        raise translate(raw, client.id) from None
    if not rows:
        return int(time.time() * 1000)
    return max(int(row[0]) for row in rows)


def exchange_feed(
    settings: NeoSettings, exchange: str, url: str | None, symbols: list[str], timeframe: str,
    warmup: int, now_ms: int,
) -> tuple[Any, int]:  # fmt: skip
    """The exchange's bar stream (no keys), starting ``warmup`` closed bars before ``now_ms``
    (the exchange's clock); and the time from which bars are live (earlier ones only warm the
    strategy up)."""
    from neo.adapters.ccxt import CcxtBarFeed, make_exchange

    config = exchange_config(settings, exchange, url)
    stream = make_exchange(exchange, config, asynchronous=True, observer=request_observer())
    frame = parse_timeframe(timeframe)
    since = None if warmup <= 0 else now_ms - warmup * (frame.nanos // 1_000_000)
    feed = CcxtBarFeed(stream, symbols, frame, since_ms=since, on_stale=stale_observer())
    return feed, now_ms * 1_000_000


def exchange_gate(
    settings: NeoSettings,
    instruments: Mapping[InstrumentId, Instrument],
    feed: StalenessSource,
    *,
    account: str = PAPER_ACCOUNT,
    keep_basis: bool,
) -> PreTradeRiskGate:
    """The risk gate of a session on an exchange feed: the account's kill switch, and the
    feed's staleness, so stale data stops new entries (code ``stale_data``)."""
    from neo.risk import HALT_ONLY, build_risk_gate

    gate = build_risk_gate(
        HALT_ONLY, settings.data_dir, instruments, account=account, keep_basis=keep_basis
    )
    gate.staleness = feed
    return gate


async def run_and_close(runner: TradingSession, feed: Any, fills: Any = None) -> dict[str, Any]:
    """Run the session (with ``fills``, a fills stream, beside it), then close the clients on
    the same event loop."""
    try:
        if fills is None:
            return (await runner.run()).summary()
        from neo.adapters.ccxt.fills_stream import run_beside

        summary = (await run_beside(fills, runner.run())).summary()
        summary["fills_stream"] = fills_report(fills)
        return summary
    finally:
        await feed.exchange.close()
        if fills is not None:
            await fills.exchange.close()


def fills_stream(
    settings: NeoSettings, exchange: str, url: str | None, symbols: list[str], client: Any
) -> Any:
    """The session's own fills as they happen (``neo.adapters.ccxt.fills_stream``): over the
    websocket where the exchange has it, else REST polls; None with ``fills_stream = "off"``.
    Its client has the keys and shares the sync client's rate limiter."""
    from neo.adapters.ccxt import make_exchange
    from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox

    config = exchange_config(settings, exchange, url)
    if config.fills_stream == "off":
        return None
    stream = make_exchange(exchange, config, asynchronous=True, credentials=True,
                           limiter=client.neo_limiter, observer=request_observer())  # fmt: skip
    return CcxtFillStream(stream, symbols, FillInbox(), mode=config.fills_stream,
                          heartbeat_s=config.fills_heartbeat_s)  # fmt: skip


def fills_report(fills: Any) -> dict[str, Any]:
    """What the fills stream did (the session summary's ``fills_stream``)."""
    stats = fills.stats
    return {
        "mode": fills.mode,
        "ws_trades": stats.trades,
        "backfilled": stats.backfilled,
        "reconnects": stats.reconnects,
        "heartbeats_missed": stats.heartbeats_missed,
        "booked_by_source": dict(fills.inbox.by_source),
    }


def mirrored_journal(settings: NeoSettings, name: str, *, sync: bool) -> SqlMirror:
    """The session's file journal, mirrored into the state database (``[database]``)."""
    from neo.persistence import open_database

    file = FileJournal(session_dir(settings.data_dir, name), sync=sync)
    try:
        return SqlMirror(file, open_database(settings))
    except BaseException:
        file.close()
        raise


@dataclass
class LiveSetup:
    """A live session built and not started: what runs it, and the journal to close after."""

    runner: TradingSession
    feed: Any
    fills: Any
    journal: SqlMirror
    client: Any
    """The keyed sync client the broker sends orders with."""

    async def run(self) -> dict[str, Any]:
        """Trade until the feed ends, ``cycles`` or a stop; the async clients are closed after
        (on the loop they ran on)."""
        return await run_and_close(self.runner, self.feed, self.fills)

    def close(self) -> None:
        """Close the journal and the sync client (its pooled sockets, rather than leaving them
        to the garbage collector)."""
        try:
            self.journal.close()
        finally:
            close_client(self.client)


def close_client(client: Any) -> None:
    """Close a sync ccxt client's HTTP session; a failure to close is not worth raising."""
    close = getattr(client, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # best effort: the session is done with either way
            return


def build_live_session(
    settings: NeoSettings,
    exchange: str,
    url: str | None,
    names: list[str],
    frame: str,
    strategy: Strategy,
    execution: ExecutionConfig,
    *,
    session: str | None,
    account: str,
    warmup: int,
    cycles: int | None,
) -> LiveSetup:
    """The durable live session: keys loaded (never printed), orders through CcxtBroker, the
    journal synced before and after every exchange call; resumes ``session`` if it exists."""
    from neo.adapters.ccxt.broker import ccxt_broker

    if not names:
        raise ConfigError("select what to trade: one symbol or more")
    label = f"exchange:{exchange}:{account}"
    name = session or f"live-{exchange}-{account}"
    # the exchange first: a request it refuses (unknown market, no keys) leaves no session
    # directory behind; a second runner of the same name stops at the journal's lock below
    client, instruments = exchange_market(settings, exchange, url, names, keys=True)
    try:
        feed, live_from = exchange_feed(
            settings, exchange, url, names, frame, warmup, market_now_ms(client, names[0], frame)
        )
        gate = exchange_gate(settings, instruments, feed, account=label, keep_basis=True)
        journal = mirrored_journal(settings, name, sync=True)
    except BaseException:
        close_client(client)
        raise
    try:
        runner = TradingSession(
            name=name, mode="live", account=label, strategy=strategy, feed=feed,
            journal=journal, instruments=instruments, execution=execution,
            engine=settings.engine, risk=gate, exchange_broker=ccxt_broker(client),
            fill_scope="", cycles=cycles, live_from_ns=live_from,
        )  # fmt: skip
        journal.ledger = runner.loop.ledger
        fills = fills_stream(settings, exchange, url, names, client)
        if fills is not None and runner.venue is not None:
            runner.venue.fill_inbox = fills.inbox  # drained where REST fills are applied
    except BaseException:
        journal.close()
        close_client(client)
        raise
    return LiveSetup(runner, feed, fills, journal, client)
