"""A live session against ``neo exchange-sim`` that the SIGKILL tests start, kill and restart.

Run as ``python -m tests.integration.live_venue_child DATA_DIR NAME SIM_URL SINCE_MS``: the
hybrid strategy (long only: a spot account cannot be short) with the momentum predictor of
:mod:`tests.integration.live_child`, real orders through the unmodified ccxt client.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, load_instruments, make_exchange
from neo.adapters.ccxt.broker import ccxt_broker
from neo.adapters.ccxt.feed import CcxtBarFeed
from neo.adapters.ccxt.outcome import OutcomePolicy
from neo.adapters.ccxt.ratelimit import Backoff
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET
from neo.strategies.registry import create_strategy
from tests.integration.live_child import MomentumPredictor

SYMBOL = "BTC/USDT"
HYBRID = {"trend": 10, "vol_window": 20, "threshold": 0.0002, "allow_short": False}


def config(url: str) -> ExchangeConfig:
    return ExchangeConfig(
        url=url, api_key=SecretStr(SIM_KEY), secret=SecretStr(SIM_SECRET), timeout_ms=3000,
        rate_limit_ms=1.0,
    )  # fmt: skip


async def run(
    data_dir: Path, name: str, url: str, since_ms: int, cycles: int, mode: str = "live"
) -> dict[str, Any]:
    """``mode`` live: real orders through CcxtBroker; live-ws: the same with the fills stream
    beside it (our fills over the websocket, as ``neo live`` runs); paper: the exchange's bars,
    the simulated broker (``neo paper --feed exchange:binance``)."""
    fills = None
    if mode == "live-ws":
        from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox

        keyed = make_exchange("binance", config(url), asynchronous=True, credentials=True)
        fills = CcxtFillStream(keyed, [SYMBOL], FillInbox(), heartbeat_s=5.0)
        mode = "live"
    exchange = make_exchange("binance", config(url), credentials=True)
    stream = make_exchange("binance", config(url), asynchronous=True)
    instruments = load_instruments(exchange, [SYMBOL])
    journal = FileJournal(session_dir(data_dir, name))
    try:
        # from the session's first bar each time: bars done before a restart are skipped
        feed = CcxtBarFeed(stream, [SYMBOL], "1m", since_ms=since_ms, heartbeat_s=120.0)
        live = mode == "live"
        session = TradingSession(
            name=name,
            mode=mode,
            account="exchange:binance:sim" if live else "paper",
            strategy=create_strategy("hybrid", HYBRID),
            feed=feed,
            journal=journal,
            instruments=instruments,
            predictor=MomentumPredictor(),
            exchange_broker=ccxt_broker(
                exchange,
                policy=OutcomePolicy(resolve_attempts=4),
                backoff=Backoff(base_s=0.02, cap_s=0.2, ban_s=0.2, seed=1),
            )
            if live
            else None,
            fill_scope="" if live else None,
            cycles=cycles,
        )
        if fills is None:
            return (await session.run()).summary()
        from neo.adapters.ccxt.fills_stream import run_beside

        assert session.venue is not None
        session.venue.fill_inbox = fills.inbox
        summary = (await run_beside(fills, session.run())).summary()
        summary["fills_stream"] = {"ws_trades": fills.stats.trades,
                                   "booked_by_source": dict(fills.inbox.by_source)}  # fmt: skip
        return summary
    finally:
        journal.close()
        await stream.close()
        if fills is not None:
            await fills.exchange.close()


if __name__ == "__main__":
    data, name, url, since, cycles, mode = sys.argv[1:7]
    print(json.dumps(asyncio.run(run(Path(data), name, url, int(since), int(cycles), mode))))
