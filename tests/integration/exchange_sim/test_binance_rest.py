"""The unmodified sync ccxt ``binance`` client trading against the sim's Binance dialect."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import make_ccxt_client

pytestmark = pytest.mark.integration
MINUTE = 60_000


@pytest.fixture
def exchange(binance_sim: SimHandle) -> Any:
    client = make_ccxt_client("binance", binance_sim.url, timeout_ms=3000)
    client.load_markets()
    return client


def test_markets_carry_precision_and_limits(exchange: Any) -> None:
    market = exchange.market("BTC/USDT")
    assert set(exchange.markets) == {"BTC/USDT", "ETH/USDT"}
    assert market["spot"] and market["id"] == "BTCUSDT"
    assert market["precision"]["price"] == 0.01
    assert market["precision"]["amount"] == 0.00001
    assert market["limits"]["cost"]["min"] == 5.0


def test_ohlcv_pages_with_since_and_limit_without_gaps_or_repeats(
    exchange: Any, binance_sim: SimHandle
) -> None:
    start = binance_sim.engine.config.start_ms
    since, rows = start, []
    while True:
        page = exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=400)
        if not page:
            break
        rows.extend(page)
        since = page[-1][0] + MINUTE
        if len(page) < 400:
            break
    stamps = [r[0] for r in rows]
    assert stamps == list(range(start, start + len(rows) * MINUTE, MINUTE))
    assert len(rows) == 1501  # 1500 closed bars and the forming one
    for _, o, h, low, c, _v in rows:
        assert low <= min(o, c) <= max(o, c) <= h
    assert all(rows[i][4] == rows[i + 1][1] for i in range(len(rows) - 1))  # open = last close
    five = exchange.fetch_ohlcv("BTC/USDT", "5m", since=start, limit=2)
    assert five[0][0] == start and five[1][0] == start + 5 * MINUTE
    assert five[0][1] == rows[0][1] and five[0][4] == rows[4][4]
    assert five[0][2] == max(r[2] for r in rows[:5])


def test_ccxts_own_pagination_gets_every_bar_once(exchange: Any, binance_sim: SimHandle) -> None:
    start = binance_sim.engine.config.start_ms
    rows = exchange.fetch_ohlcv(
        "BTC/USDT", "1m", since=start,
        params={"paginate": True, "paginationCalls": 3, "until": start + 1500 * MINUTE},
    )  # fmt: skip
    assert [r[0] for r in rows] == list(range(start, start + 1501 * MINUTE, MINUTE))


def test_the_path_is_seeded_and_advance_closes_bars(binance_sim: SimHandle) -> None:
    client = make_ccxt_client("binance", binance_sim.url)
    before = client.fetch_ohlcv("ETH/USDT", "1m", limit=2)
    binance_sim.advance(3)
    after = client.fetch_ohlcv("ETH/USDT", "1m", limit=5)
    assert after[1][0] == before[-1][0]  # the forming bar of before, now closed
    assert before[-1][5] == 0.0 and after[1][5] > 0.0
    assert after[1][1] == before[-1][1]  # it opened at the same price
    assert after[-1][0] == before[-1][0] + 3 * MINUTE
    from neo.exchange_sim import serve_in_thread

    with serve_in_thread("binance", seed=11, history_bars=1500) as twin:
        twin.advance(3)
        again = make_ccxt_client("binance", twin.url).fetch_ohlcv("ETH/USDT", "1m", limit=5)
    assert again == after
    with serve_in_thread("binance", seed=12, history_bars=1500) as other:
        assert make_ccxt_client("binance", other.url).fetch_ohlcv("ETH/USDT", "1m", limit=5) != (
            after
        )


def test_market_and_limit_orders_by_client_id(exchange: Any, binance_sim: SimHandle) -> None:
    balance = exchange.fetch_balance()
    assert balance["USDT"]["free"] == 100000.0 and balance["BTC"]["free"] == 1.0
    bought = exchange.create_order(
        "BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "neoA-1"}
    )
    assert bought["status"] == "closed" and bought["filled"] == 0.1
    assert bought["clientOrderId"] == "neoA-1"
    last = binance_sim.engine.last_price("BTC/USDT")
    assert bought["average"] == float(last)
    assert bought["fee"] == {"currency": "BTC", "cost": 0.0001}
    price = float(last) * 0.9
    limit = exchange.create_order(
        "BTC/USDT", "limit", "buy", 0.2, round(price, 2), params={"clientOrderId": "neoA-2"}
    )
    assert limit["status"] == "open" and limit["filled"] == 0.0
    fetched = exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "neoA-2"})
    assert fetched["id"] == limit["id"] and fetched["status"] == "open"
    assert [o["clientOrderId"] for o in exchange.fetch_open_orders("BTC/USDT")] == ["neoA-2"]
    locked = exchange.fetch_balance()["USDT"]["used"]
    assert locked == pytest.approx(0.2 * round(price, 2))
    canceled = exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "neoA-2"})
    assert canceled["status"] == "canceled"
    after = exchange.fetch_balance()
    assert after["USDT"]["used"] == 0.0
    assert after["USDT"]["free"] == pytest.approx(100000.0 - 0.1 * float(last))
    assert after["BTC"]["free"] == pytest.approx(1.0 + 0.1 - 0.0001)
    trades = exchange.fetch_my_trades("BTC/USDT")
    assert [t["order"] for t in trades] == [bought["id"]]
    assert exchange.fetch_open_orders("BTC/USDT") == []
    requests = binance_sim.requests()
    assert [(r["action"], r["client_order_id"]) for r in requests] == [
        ("create", "neoA-1"), ("create", "neoA-2"), ("query", "neoA-2"), ("cancel", "neoA-2"),
    ]  # fmt: skip


def test_a_resting_limit_fills_partially_per_bar_then_cancel_keeps_the_filled_part(
    exchange: Any, binance_sim: SimHandle
) -> None:
    binance_sim.set_max_fill_per_bar("0.3")
    last = float(binance_sim.engine.last_price("ETH/USDT"))
    # a sell limit just above the market: the next bar whose high reaches it fills 0.3
    price = round(last * 1.0005, 2)
    exchange.create_order("ETH/USDT", "limit", "sell", 1.0, price, params={"clientOrderId": "p1"})
    bars = 0
    while exchange.fetch_order(None, "ETH/USDT", params={"clientOrderId": "p1"})["filled"] == 0:
        binance_sim.advance(1)
        bars += 1
        assert bars < 200, "the path never crossed the limit"
    order = exchange.fetch_order(None, "ETH/USDT", params={"clientOrderId": "p1"})
    assert order["filled"] == 0.3 and order["status"] == "open" and order["remaining"] == 0.7
    canceled = exchange.cancel_order(None, "ETH/USDT", params={"clientOrderId": "p1"})
    assert canceled["status"] == "canceled" and canceled["filled"] == 0.3
    balance = exchange.fetch_balance()
    assert balance["ETH"]["total"] == pytest.approx(10.0 - 0.3)
    assert balance["ETH"]["used"] == 0.0
    assert balance["USDT"]["total"] == pytest.approx(100000.0 + 0.3 * price * 0.999)
    trades = exchange.fetch_my_trades("ETH/USDT")
    assert [(t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == [(0.3, price, "maker")]
    assert [f["quantity"] for f in binance_sim.fills()] == ["0.3"]


def test_exchange_errors_map_to_ccxt_classes(exchange: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 50.0, params={"clientOrderId": "big"})
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "nope"})
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "nope"})
    exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "dup"})


def test_signatures_are_checked(binance_sim: SimHandle) -> None:
    wrong = make_ccxt_client("binance", binance_sim.url, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        wrong.fetch_balance()
    unknown = make_ccxt_client("binance", binance_sim.url, api_key="who")
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        unknown.fetch_balance()


def test_tickers_book_and_order_history(exchange: Any, binance_sim: SimHandle) -> None:
    last = float(binance_sim.engine.last_price("BTC/USDT"))
    assert exchange.fetch_status()["status"] == "ok"
    ticker = exchange.fetch_ticker("BTC/USDT")
    assert ticker["last"] == last and ticker["bid"] < last < ticker["ask"]
    since = binance_sim.state()["now_ms"] - 1440 * MINUTE
    day = exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=1000)
    day += exchange.fetch_ohlcv("BTC/USDT", "1m", since=day[-1][0] + MINUTE, limit=440)
    assert len(day) == 1440
    assert ticker["high"] == max(c[2] for c in day) and ticker["low"] == min(c[3] for c in day)
    assert set(exchange.fetch_tickers()) == {"BTC/USDT", "ETH/USDT"}
    assert exchange.fetch_bids_asks(["ETH/USDT"])["ETH/USDT"]["bid"] is not None
    book = exchange.fetch_order_book("BTC/USDT")
    assert book["bids"][0][0] < last < book["asks"][0][0]
    exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "h1"})
    exchange.create_order("BTC/USDT", "limit", "sell", 0.01, last * 2, {"clientOrderId": "h2"})
    binance_sim.advance(2)
    exchange.create_order("BTC/USDT", "market", "sell", 0.01, params={"clientOrderId": "h3"})
    assert [o["clientOrderId"] for o in exchange.fetch_orders("BTC/USDT")] == ["h1", "h2", "h3"]
    assert [o["clientOrderId"] for o in exchange.fetch_closed_orders("BTC/USDT")] == ["h1", "h3"]
    exchange.options["fetchOpenOrders"]["warnWithoutSymbol"] = False  # ccxt's own guard
    assert [o["clientOrderId"] for o in exchange.fetch_open_orders()] == ["h2"]
    trades = exchange.fetch_my_trades("BTC/USDT")
    later = exchange.fetch_my_trades("BTC/USDT", since=trades[0]["timestamp"] + 1)
    assert [t["id"] for t in later] == [trades[1]["id"]]
    assert exchange.fetch_my_trades("BTC/USDT", limit=1) == [trades[-1]]


def test_response_types_ack_and_result(exchange: Any) -> None:
    buy = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET"}
    ack = exchange.privatePostOrder(
        {**buy, "quantity": "0.1", "newOrderRespType": "ACK", "newClientOrderId": "ack"}
    )
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = exchange.privatePostOrder(
        {**buy, "quoteOrderQty": "100", "newOrderRespType": "RESULT"}
    )
    assert "fills" not in result and result["status"] == "FILLED"
    assert result["clientOrderId"].startswith("x-")  # ccxt made one up (its broker prefix)
    spent = float(result["cummulativeQuoteQty"])
    assert 99.0 < spent <= 100.0  # quoteOrderQty: the quantity is what 100 USDT buys
