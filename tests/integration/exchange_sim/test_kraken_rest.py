"""The unmodified sync ccxt ``kraken`` client trading against the sim's Kraken dialect."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import make_ccxt_client

pytestmark = pytest.mark.integration
MINUTE = 60_000


@pytest.fixture
def exchange(kraken_sim: SimHandle) -> Any:
    client = make_ccxt_client("kraken", kraken_sim.url, timeout_ms=3000)
    client.load_markets()
    return client


def test_markets_map_kraken_ids_to_unified_symbols(exchange: Any) -> None:
    assert set(exchange.markets) == {"BTC/USDT", "ETH/USDT"}
    market = exchange.market("BTC/USDT")
    assert market["id"] == "XBTUSDT" and market["info"]["base"] == "XXBT"
    assert market["precision"] == {"amount": 0.00001, "price": 0.01}
    assert market["taker"] == 0.0026 and market["maker"] == 0.0016


def test_ohlcv_pages_with_since(exchange: Any, kraken_sim: SimHandle) -> None:
    start = kraken_sim.engine.config.start_ms
    since, rows = start, []
    for _ in range(10):
        page = exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=500)
        if not page:
            break
        rows.extend(page)
        since = page[-1][0] + MINUTE
    stamps = [r[0] for r in rows]
    assert stamps == list(range(start, start + 1501 * MINUTE, MINUTE))
    five_minute = make_ccxt_client("kraken", kraken_sim.url).fetch_ohlcv("BTC/USDT", "5m")
    assert five_minute[-1][0] == start + 300 * 5 * MINUTE  # 1500 bars = 300 five-minute bars


def test_same_seed_same_path_as_the_binance_dialect(exchange: Any, binance_sim: SimHandle) -> None:
    binance = make_ccxt_client("binance", binance_sim.url)
    assert exchange.fetch_ohlcv("ETH/USDT", "1h", limit=24) == binance.fetch_ohlcv(
        "ETH/USDT", "1h", limit=24
    )


def test_orders_fills_and_balances(exchange: Any, kraken_sim: SimHandle) -> None:
    placed = exchange.create_order(
        "BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "k-1"}
    )
    order = exchange.fetch_order(placed["id"], "BTC/USDT")
    last = float(kraken_sim.engine.last_price("BTC/USDT"))
    assert order["status"] == "closed" and order["clientOrderId"] == "k-1"
    assert order["filled"] == 0.1 and order["average"] == last
    assert order["fee"]["currency"] == "USDT"
    limit = exchange.create_order(
        "BTC/USDT", "limit", "buy", 0.2, round(last * 0.9, 2), params={"clientOrderId": "k-2"}
    )
    opened = exchange.fetch_open_orders("BTC/USDT", params={"clientOrderId": "k-2"})
    assert [(o["id"], o["status"]) for o in opened] == [(limit["id"], "open")]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(
        0.2 * round(last * 0.9, 2) * 1.0026
    )
    exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "k-2"})
    assert exchange.fetch_order(limit["id"], "BTC/USDT")["status"] == "canceled"
    balance = exchange.fetch_balance()
    assert balance["USDT"]["used"] == 0.0
    assert balance["USDT"]["total"] == pytest.approx(100000.0 - 0.1 * last * 1.0026)
    assert balance["BTC"]["total"] == pytest.approx(1.1)
    trades = exchange.fetch_my_trades("BTC/USDT")
    assert [(t["order"], t["amount"], t["side"]) for t in trades] == [(placed["id"], 0.1, "buy")]
    with pytest.raises(ccxt.ExchangeError, match="Duplicate order"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "k-1"})


def test_partial_fill_then_cancel(exchange: Any, kraken_sim: SimHandle) -> None:
    kraken_sim.set_max_fill_per_bar("0.25")
    last = float(kraken_sim.engine.last_price("ETH/USDT"))
    price = round(last * 0.9995, 2)
    placed = exchange.create_order(
        "ETH/USDT", "limit", "buy", 1.0, price, params={"clientOrderId": "kp"}
    )
    for _ in range(200):
        if exchange.fetch_order(placed["id"], "ETH/USDT")["filled"]:
            break
        kraken_sim.advance(1)
    order = exchange.fetch_order(placed["id"], "ETH/USDT")
    assert order["filled"] == 0.25 and order["status"] == "open"
    exchange.cancel_order(placed["id"], "ETH/USDT")
    final = exchange.fetch_order(placed["id"], "ETH/USDT")
    assert final["status"] == "canceled" and final["filled"] == 0.25
    assert exchange.fetch_balance()["ETH"]["total"] == pytest.approx(10.25)
    fills = kraken_sim.fills()
    assert [(f["quantity"], f["price"], f["maker"]) for f in fills] == [
        ("0.25", f"{price:.2f}", True)
    ]


def test_signatures_are_checked(kraken_sim: SimHandle) -> None:
    wrong = make_ccxt_client("kraken", kraken_sim.url, secret="d3Jvbmc=")
    with pytest.raises(ccxt.ExchangeError, match="Invalid signature"):
        wrong.fetch_balance()
    unknown = make_ccxt_client("kraken", kraken_sim.url, api_key="who")
    with pytest.raises(ccxt.AuthenticationError):
        unknown.fetch_balance()
