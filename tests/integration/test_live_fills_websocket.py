"""A durable live session with its fills over the websocket, against ``neo exchange-sim``.

The session runs the fills stream beside it (as ``neo live`` does): each fill of its order is
heard over the websocket, polled over REST by the broker, and — after a restart — replayed from
the journal and back-filled over REST once more. The journal must hold each trade once, the
ledger must hold what the exchange filled, nothing more.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

pytest.importorskip("ccxt")
from neo.exchange_sim import serve_in_thread

SYMBOL = "BTC/USDT"
LEAD = 12
"""Closed bars the session starts from (its order goes out on the last of them)."""
QUANTITY = 0.03


class EagerBuy(Strategy):
    """One limit buy above the market at its 12th bar: part fills at once (the sim caps each
    bar's fill), the rest rests and fills on the bars that follow, across the restart."""

    name = "eager_buy"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i == LEAD - 1:
            ctx.buy(QUANTITY, limit=round(ctx.price * 1.003, 2))


@pytest.mark.integration
def test_a_trade_seen_over_websocket_rest_and_replay_is_recorded_once(tmp_path: Path) -> None:
    from neo.adapters.ccxt import load_instruments, make_exchange
    from neo.adapters.ccxt.broker import ccxt_broker
    from neo.adapters.ccxt.feed import CcxtBarFeed
    from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox, run_beside
    from neo.engine.journal import FileJournal, session_dir
    from neo.engine.live import TradingSession
    from tests.integration.live_venue_child import config

    handle = serve_in_thread("binance", seed=3, history_bars=300, max_fill_per_bar="0.004")
    since = int(handle.state()["now_ms"]) - LEAD * 60_000
    streams: list[CcxtFillStream] = []
    advanced = [0]

    async def pace(session: TradingSession, fills: CcxtFillStream) -> None:
        """Close one more bar whenever the session has caught up and its fills stream is
        subscribed (so the run, the restart and the market meet at the same points)."""
        while True:
            if fills.subscribed.is_set() and session.committed_bars >= LEAD + advanced[0]:
                handle.advance(1)
                advanced[0] += 1
            await asyncio.sleep(0.005)

    async def run(cycles: int) -> dict[str, Any]:
        exchange = make_exchange("binance", config(handle.url), credentials=True)
        bars = make_exchange("binance", config(handle.url), asynchronous=True)
        keyed = make_exchange("binance", config(handle.url), asynchronous=True, credentials=True)
        fills = CcxtFillStream(keyed, [SYMBOL], FillInbox(), heartbeat_s=5.0)
        streams.append(fills)
        journal = FileJournal(session_dir(tmp_path, "ws"))
        try:
            session = TradingSession(
                name="ws", mode="live", account="exchange:binance:t", strategy=EagerBuy(),
                feed=CcxtBarFeed(bars, [SYMBOL], "1m", since_ms=since), journal=journal,
                instruments=load_instruments(exchange, [SYMBOL]),
                exchange_broker=ccxt_broker(exchange), fill_scope="", cycles=cycles,
            )  # fmt: skip
            assert session.venue is not None
            session.venue.fill_inbox = fills.inbox
            pacer = asyncio.create_task(pace(session, fills))
            try:
                return (await run_beside(fills, session.run())).summary()
            finally:
                pacer.cancel()
        finally:
            journal.close()
            await bars.close()
            await keyed.close()
            exchange.close()

    try:
        first = asyncio.run(run(LEAD + 5))
        second = asyncio.run(run(LEAD + 40))
        sim_fills = handle.fills()
        (order,) = handle.orders()
    finally:
        handle.stop()
    assert first["fills"] >= 1 and second["resumed"]
    assert order["status"] == "closed", "the order should have filled within 40 bars"
    text = (session_dir(tmp_path, "ws") / "journal.jsonl").read_text()
    rows = [json.loads(x) for x in text.splitlines()]
    journalled = [r["trade_id"] for r in rows if r["kind"] == "fill"]
    assert len(journalled) == len(set(journalled))  # each trade written once
    assert sorted(journalled) == sorted(f"binance:{f['trade_id']}" for f in sim_fills)
    assert second["fills"] == len(sim_fills)
    # what the account holds: the sim (as Binance spot) took the buy's 0.1 % fee in BTC
    assert second["positions"][f"{SYMBOL}@binance"] == pytest.approx(QUANTITY * 0.999)
    assert Decimal(order["filled"]) == Decimal(str(QUANTITY))
    heard = sum(s.stats.trades for s in streams)
    assert heard >= 1, [(s.stats, s.inbox.by_source, s.mode) for s in streams]
    sources = [r["source"] for r in rows if r["kind"] == "fill"]
    assert "ws" in sources  # booked from the socket, before the broker's REST poll saw them
    # the restart's stream back-filled the first run's fills over REST: not booked again
    assert streams[1].stats.backfilled >= first["fills"]
    assert sum(s.inbox.applied + s.inbox.ignored for s in streams) >= heard
