"""Exchange calls made through the ccxt adapter show at /metrics: latency per endpoint and
errors by type (``neo_exchange_request_seconds``, ``neo_exchange_errors_total``), as `neo live`
and `neo paper --feed exchange:` wire them."""

from __future__ import annotations

import ccxt
import pytest
from prometheus_client import REGISTRY

from neo.adapters.ccxt import ExchangeConfig, make_exchange
from neo.app.live import request_observer
from neo.exchange_sim import serve_in_thread


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_exchange_calls_and_errors_are_observed() -> None:
    observer = request_observer()
    assert observer is not None
    with serve_in_thread("binance", seed=5, history_bars=50) as sim:
        client = make_exchange("binance", ExchangeConfig(url=sim.url), observer=observer)
        before = _value("neo_exchange_request_seconds_count", exchange="binance",
                        endpoint="exchangeInfo")  # fmt: skip
        errors_before = _value("neo_exchange_errors_total", exchange="binance",
                               kind="ExchangeNotAvailable")  # fmt: skip
        client.load_markets()
        sim.add_fault("5xx", path="*klines*", count=1, status=503)
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_ohlcv("BTC/USDT", "1m", None, 5)
    assert _value("neo_exchange_request_seconds_count", exchange="binance",
                  endpoint="exchangeInfo") == before + 1  # fmt: skip
    assert _value("neo_exchange_errors_total", exchange="binance",
                  kind="ExchangeNotAvailable") == errors_before + 1  # fmt: skip
