"""NEO's exchange adapter over ccxt: markets, history, rate limiting, orders and bar streams.

Public API (what the live driver and the CLI use)::

    exchange = make_exchange("binance", settings.exchanges["binance"], credentials=True)
    instruments = load_instruments(exchange, ["BTC/USDT"])
    report = fetch_history(exchange, ingestion_api, "BTC/USDT", "1m", since_ns)
    broker = CcxtBroker(exchange, instruments, sink, ledger, journal=..., session=...)
    feed = CcxtBarFeed(make_exchange("binance", cfg, asynchronous=True), ["BTC/USDT"], "1m")

See docs/exchanges.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.adapters.ccxt.broker import CcxtBroker, ccxt_broker
    from neo.adapters.ccxt.client import make_exchange, rewrite_urls
    from neo.adapters.ccxt.config import ExchangeConfig
    from neo.adapters.ccxt.feed import CcxtBarFeed
    from neo.adapters.ccxt.history import FetchReport, fetch_history, iter_ohlcv_pages
    from neo.adapters.ccxt.journal import Journal, MemoryJournal
    from neo.adapters.ccxt.market_stream import CcxtMarketStream
    from neo.adapters.ccxt.markets import instruments_of, load_instruments, market_to_instrument
    from neo.adapters.ccxt.outcome import Outcome, OutcomePolicy
    from neo.adapters.ccxt.ratelimit import Backoff, RateLimiter, RetryBudget

_HOME = {
    "CcxtBroker": "broker",
    "ccxt_broker": "broker",
    "make_exchange": "client",
    "rewrite_urls": "client",
    "ExchangeConfig": "config",
    "CcxtBarFeed": "feed",
    "CcxtMarketStream": "market_stream",
    "FetchReport": "history",
    "fetch_history": "history",
    "iter_ohlcv_pages": "history",
    "Journal": "journal",
    "MemoryJournal": "journal",
    "instruments_of": "markets",
    "load_instruments": "markets",
    "market_to_instrument": "markets",
    "Outcome": "outcome",
    "OutcomePolicy": "outcome",
    "Backoff": "ratelimit",
    "RateLimiter": "ratelimit",
    "RetryBudget": "ratelimit",
}


def __getattr__(name: str) -> Any:
    """Import lazily: the settings import ``ExchangeConfig`` and must not pull in ccxt."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"neo.adapters.ccxt.{module}"), name)


__all__ = [
    "Backoff",
    "CcxtBarFeed",
    "CcxtBroker",
    "CcxtMarketStream",
    "ExchangeConfig",
    "FetchReport",
    "Journal",
    "MemoryJournal",
    "Outcome",
    "OutcomePolicy",
    "RateLimiter",
    "RetryBudget",
    "ccxt_broker",
    "fetch_history",
    "instruments_of",
    "iter_ohlcv_pages",
    "load_instruments",
    "make_exchange",
    "market_to_instrument",
    "rewrite_urls",
]
