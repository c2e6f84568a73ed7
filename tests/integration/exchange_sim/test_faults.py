"""Every injected fault, through the unmodified sync ccxt client, for both dialects: each raises
the ccxt class ccxt maps the exchange's answer to (or, for a malformed body, what ccxt really
does: it raises nothing and hands back the text, which is why callers must check)."""

from __future__ import annotations

import json
from typing import Any

import ccxt
import pytest

from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import make_ccxt_client

pytestmark = pytest.mark.integration
ORDER_PATHS = {"binance": "/api/v3/order", "kraken": "/0/private/AddOrder"}
BALANCE_PATHS = {"binance": "/api/v3/account", "kraken": "/0/private/BalanceEx"}


@pytest.fixture(params=["binance", "kraken"])
def sim(request: pytest.FixtureRequest) -> SimHandle:
    handle = request.getfixturevalue(f"{request.param}_sim")
    assert isinstance(handle, SimHandle)
    return handle


@pytest.fixture
def exchange(sim: SimHandle) -> Any:
    client = make_ccxt_client(sim.dialect, sim.url, timeout_ms=600)
    client.load_markets()
    return client


@pytest.mark.parametrize(
    ("kind", "extra", "error"),
    [
        ("429", {}, ccxt.DDoSProtection),
        ("418", {}, ccxt.DDoSProtection),
        ("5xx", {"status": 503}, ccxt.ExchangeNotAvailable),
        ("5xx", {"status": 500}, ccxt.ExchangeNotAvailable),
        ("5xx", {"status": 504}, ccxt.RequestTimeout),
    ],
)
def test_throttling_and_server_errors(
    sim: SimHandle, exchange: Any, kind: str, extra: dict[str, Any], error: type[Exception]
) -> None:
    sim.add_fault(kind, BALANCE_PATHS[sim.dialect], count=2, **extra)
    for _ in range(2):
        with pytest.raises(error):
            exchange.fetch_balance()
    if kind in ("429", "418"):
        assert exchange.last_response_headers["Retry-After"] == "1"
    assert exchange.fetch_balance()["USDT"]["free"] == 100000.0  # the count is used up


def test_a_fault_hits_only_its_path(sim: SimHandle, exchange: Any) -> None:
    sim.add_fault("5xx", ORDER_PATHS[sim.dialect])
    assert exchange.fetch_balance()["BTC"]["free"] == 1.0
    assert len(exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)) == 3
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "f1"})
    assert sim.orders() == []  # a 5xx before the exchange: nothing was accepted
    assert [r["fault"] for r in sim.requests()] == ["5xx"]


def test_timeout_after_accept_keeps_the_order_and_a_retry_with_the_same_id_is_refused(
    sim: SimHandle, exchange: Any
) -> None:
    sim.add_fault("timeout_after_accept", ORDER_PATHS[sim.dialect], stall_seconds=5)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "t1"})
    accepted = sim.orders()
    assert [(o["client_order_id"], o["status"]) for o in accepted] == [("t1", "closed")]
    assert sim.requests()[0]["fault"] == "timeout_after_accept"
    # the client's retry reuses the id: the exchange refuses a duplicate, no second order
    with pytest.raises(ccxt.ExchangeError, match="Duplicate order"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "t1"})
    assert len(sim.orders()) == 1 and len(sim.fills()) == 1
    if sim.dialect == "binance":
        found = exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "t1"})
    else:
        found = exchange.fetch_closed_orders("BTC/USDT", params={"clientOrderId": "t1"})[0]
    assert found["clientOrderId"] == "t1" and found["filled"] == 0.01


def test_malformed_json_is_passed_through_by_ccxt_without_an_error(
    sim: SimHandle, exchange: Any
) -> None:
    sim.add_fault("malformed_json", ORDER_PATHS[sim.dialect])
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "m1"})
    # ccxt does not raise on a 200 whose body is not JSON: the order it returns has no id
    assert order["id"] is None and order["status"] is None
    with pytest.raises(json.JSONDecodeError):
        json.loads(exchange.last_http_response)
    assert [o["client_order_id"] for o in sim.orders()] == ["m1"]  # the exchange accepted it
    sim.add_fault("malformed_json", "*OHLC*" if sim.dialect == "kraken" else "*/klines")
    candles = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert all(c[1] is None for c in candles)  # garbage, not candles


def test_injected_insufficient_balance(sim: SimHandle, exchange: Any) -> None:
    sim.add_fault("insufficient_balance", ORDER_PATHS[sim.dialect])
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "i1"})
    assert sim.orders() == []


def test_injected_order_not_found(sim: SimHandle, exchange: Any) -> None:
    exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 30000, params={"clientOrderId": "n1"})
    cancel_path = "/api/v3/order" if sim.dialect == "binance" else "/0/private/CancelOrder"
    sim.add_fault("order_not_found", cancel_path, method="DELETE" if sim.dialect == "binance"
                  else None)  # fmt: skip
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "n1"})
    assert [o["status"] for o in sim.orders()] == ["open"]  # the order is still there
    query_path = "/api/v3/order" if sim.dialect == "binance" else "/0/private/QueryOrders"
    sim.add_fault("order_not_found", query_path)
    # ccxt maps Kraken's "EOrder:Unknown order" to InvalidOrder outside cancel_order
    expected = ccxt.OrderNotFound if sim.dialect == "binance" else ccxt.InvalidOrder
    order_id = sim.orders()[0]["order_id"]
    txid = str(order_id) if sim.dialect == "binance" else f"OSIM{order_id:06d}-NEO-SIM"
    with pytest.raises(expected):
        exchange.fetch_order(txid, "BTC/USDT")
    assert exchange.fetch_order(txid, "BTC/USDT")["status"] == "open"  # the count is used up


def test_real_not_found_and_insufficient_balance(sim: SimHandle, exchange: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("ETH/USDT", "market", "sell", 11.0, params={"clientOrderId": "x"})
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "never-sent"})
    ghost = "12345" if sim.dialect == "binance" else "OSIM000099-NEO-SIM"
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order(ghost, "BTC/USDT")
